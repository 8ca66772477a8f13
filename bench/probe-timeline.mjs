// Preloaded into a CLI run (`node --import ./bench/probe-timeline.mjs …`): samples process.memoryUsage() every
// 5 ms and notes each line the CLI writes to stdout/stderr (the progress lines mark the steps), and on exit
// writes both, in time order, to HL_TIMELINE_OUT (one JSON line per event). bench/probe-memory.mjs --cli reads it.
import { writeFileSync } from "node:fs";

const out = process.env.HL_TIMELINE_OUT;
if (out) {
  const t0 = performance.now();
  const events = [];
  const sample = () => {
    const m = process.memoryUsage();
    events.push({ t: Math.round(performance.now() - t0), heap: m.heapUsed, total: m.heapTotal, external: m.external + m.arrayBuffers, rss: m.rss });
  };
  setInterval(sample, 5).unref();
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = (chunk, ...rest) => {
      const text = String(chunk);
      for (const line of text.split("\n").filter(Boolean).slice(0, 3)) events.push({ t: Math.round(performance.now() - t0), line: line.slice(0, 80) });
      return write(chunk, ...rest);
    };
  }
  process.on("exit", () => {
    sample();
    writeFileSync(out, events.map((e) => JSON.stringify(e)).join("\n"));
  });
}
