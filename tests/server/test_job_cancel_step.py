"""get_job's cancel says where the job stood: once cancelled, a job's own message is
"cancelled", which no longer says what its count counts (rows read, contacts deleted)."""

import re

import pytest

from contacts_mcp.emulator import EmulatorOptions
from tests.server.conftest import open_harness
from tests.server.test_search import start_refresh

pytestmark = pytest.mark.anyio


async def test_a_cancel_answers_with_the_jobs_last_step(era: str) -> None:
    async for h in open_harness(era, EmulatorOptions(latency=0.03), wait_seconds=0.05):
        await h.seed_contacts([f"u{i}@example.com" for i in range(1000)])
        job = await start_refresh(h, "full")
        job_id = job["job_id"]
        while job["done"] < 200:
            job = (await h.call("get_job", {"job_id": job_id, "wait_seconds": 0.05}))["job"]
            assert job["status"] == "working", job

        answer = await h.client.call_tool("get_job", {"job_id": job_id, "cancel": True})

        stopped = answer.structured_content
        assert stopped is not None
        assert stopped["job"]["status"] == "cancelled"
        assert stopped["job"]["message"].startswith("cancelled")
        step = stopped["stopped_at"]
        assert re.fullmatch(r"read (\d+) contacts", step), step
        assert int(step.split(" ")[1]) == stopped["job"]["done"]
        text = answer.content[0]
        assert text.type == "text"
        assert text.text.endswith(f" Its last step: {step}.")
        # Asked again, the job is as it ended: no cancel, no step.
        again = await h.call("get_job", {"job_id": job_id, "cancel": True})
        assert (again["job"]["status"], again["stopped_at"]) == ("cancelled", None)
        assert (await h.call("get_job", {"job_id": job_id}))["stopped_at"] is None
