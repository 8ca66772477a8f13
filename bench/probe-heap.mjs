// Preloaded into a CLI run (`node --import ./bench/probe-heap.mjs …`): V8's sampling heap profiler through the
// inspector, counting what the major GC collected too (`includeObjectsCollectedByMajorGC`: objects that were
// promoted to the old generation and died there, the garbage that makes the heap, and the RSS, grow between
// major GCs), written on exit to HL_HEAP_OUT as a .heapprofile (bench/probe-prof.mjs `summary` reads it;
// Chrome DevTools opens it). HL_HEAP_MINOR=1 counts what the scavenger collected as well.
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";

const out = process.env.HL_HEAP_OUT;
if (out) {
  const session = new Session();
  session.connect();
  session.post("HeapProfiler.startSampling", { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.HL_HEAP_MINOR === "1" });
  process.on("exit", () => {
    session.post("HeapProfiler.stopSampling", (err, r) => {
      if (!err) writeFileSync(out, JSON.stringify(r.profile));
    });
  });
}
