// IPX serving one folder over HTTP on loopback, for tests/bench/delivery.py.
// Usage: IPX_BENCH_DIR=/path/to/images IPX_BENCH_PORT=3000 [IPX_BENCH_SHARP_OPTIONS='{...}'] node server.mjs
import { createServer } from "node:http";
import { createIPX, createIPXNodeServer, ipxFSStorage } from "ipx";

const dir = process.env.IPX_BENCH_DIR;
const port = Number(process.env.IPX_BENCH_PORT);
if (!dir || !port) {
  console.error("IPX_BENCH_DIR and IPX_BENCH_PORT must be set");
  process.exit(2);
}

const ipx = createIPX({
  storage: ipxFSStorage({ dir }),
  // IPX copies sharpOptions onto every sharp pipeline before the format is set, so they set the
  // encoders' options that its URL modifiers cannot (delivery.py sends its own in
  // IPX_BENCH_SHARP_OPTIONS, e.g. {"heifEffort": 2}). IPX asks sharp for progressive JPEG by
  // default; without options this server writes baseline JPEG, as medialoom does unless asked.
  sharpOptions: { jpegProgressive: false, ...JSON.parse(process.env.IPX_BENCH_SHARP_OPTIONS || "{}") },
});

createServer(createIPXNodeServer(ipx)).listen(port, "127.0.0.1", () => {
  console.log(`ipx listening on http://127.0.0.1:${port}, serving ${dir}`);
});
