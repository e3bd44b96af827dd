// A correction to kafkajs 2.2.4, the last release, applied once when the transport loads.
//
// Each connection's request queue schedules a check of its pending requests after every response,
// `throttledUntil - Date.now()` milliseconds ahead; with no throttling in force `throttledUntil` is -1,
// so the delay is minus the epoch time (Node prints a TimeoutNegativeWarning and uses 1 ms), and the
// check reschedules itself the same way: every open connection runs a timer every millisecond for
// as long as it lives (kafkajs issues #1704 and #1751, fixes proposed and not released). Besides the
// CPU, that loop kept any process with an open connection alive, hiding timers that should have.
// The check is only needed while requests wait in the queue; it is then scheduled for the end of
// the throttle, or after kafkajs' own polling interval when the queue waits on in-flight requests.
import { createRequire } from 'node:module';

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' interval (ms) for re-checking a queue that waits on in-flight requests. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

const require = createRequire(import.meta.url);
const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueue };

RequestQueueClass.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueue) {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    throttled > 0 ? throttled : CHECK_PENDING_REQUESTS_INTERVAL,
  );
};
