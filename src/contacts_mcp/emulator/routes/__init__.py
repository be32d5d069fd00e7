"""The emulator's HTTP handlers, one module per resource, in Resend's wire format.

Handlers parse requests with `emulator.wire`, call the store, and answer with Resend's
status codes and bodies. The route table itself is in `emulator.app`.
"""
