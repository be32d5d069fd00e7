"""Text from outside, made safe to show (`sanitize.clean`) and bounded (`caps.shown`).

It sits below every other layer because all of them put untrusted text in front of the
model. Modules are imported by their full path; this file re-exports nothing.
"""
