// Following a job with get_job, as every screen does: each call waits up to WAIT_SECONDS
// for the job to end before answering with where it stands, and a call that fails is
// tried again a little later, up to MAX_POLL_FAILURES failures in a row.

import type { App } from "@modelcontextprotocol/ext-apps";

import { sleep, type ToolResult } from "./host";

// get_job waits this long for the job to end before answering with where it stands.
export const WAIT_SECONDS = 5;
// Failed get_job calls in a row (the host or server unreachable) before giving up.
export const MAX_POLL_FAILURES = 4;
// get_job's refusal of a failed job: "Job job_… (kind) failed: why".
export const FAILED_JOB = /^Job (\S+) \(([^)]*)\) failed: ([\s\S]*)$/;

/** get_job's next answer on a job (`wait_seconds`). A failed call is tried again after
 * 1 s, 2 s, 3 s… while `going()` (the screen still follows the job): null once it no
 * longer does; the last call's error is thrown after MAX_POLL_FAILURES failures in a row. */
export async function nextJobAnswer(
  app: App,
  jobId: string,
  going: () => boolean,
): Promise<ToolResult | null> {
  let failures = 0;
  for (;;) {
    try {
      return await app.callServerTool({
        name: "get_job",
        arguments: { job_id: jobId, wait_seconds: WAIT_SECONDS },
      });
    } catch (error) {
      failures += 1;
      if (failures >= MAX_POLL_FAILURES) throw error;
      await sleep(1000 * failures);
      if (!going()) return null;
    }
  }
}

/** Cancel a job: get_job's answer (with `stopped_at`, where it stopped). */
export function cancelJob(app: App, jobId: string): Promise<ToolResult> {
  return app.callServerTool({ name: "get_job", arguments: { job_id: jobId, cancel: true } });
}
