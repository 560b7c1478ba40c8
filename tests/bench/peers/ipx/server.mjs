// IPX serving one folder over HTTP on loopback, for tests/bench/delivery.py.
// Usage: IPX_BENCH_DIR=/path/to/images IPX_BENCH_PORT=3000 node server.mjs
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
  // IPX asks sharp for progressive JPEG by default; medialoom (and the thumbor config of the
  // benchmark) write baseline JPEG unless asked otherwise, so compare like with like.
  sharpOptions: { jpegProgressive: false },
});

createServer(createIPXNodeServer(ipx)).listen(port, "127.0.0.1", () => {
  console.log(`ipx listening on http://127.0.0.1:${port}, serving ${dir}`);
});
