// Prints the delivery URLs the official Node SDK builds (run by tests/sdk/test_delivery_node.py).
//
//   node delivery_urls.js [JSON]      (or the JSON on stdin)
//
// JSON is a list of cloudinary.url() option objects in the Node SDK's own spelling. An object may
// name its asset with "public_id" (not an SDK option; taken out before the call). Prints a JSON
// list of URLs, one per object, in the same order.
//
// CLOUDINARY_URL must be set before the SDK is required; its cname names our server's host.
const cloudinary = require('cloudinary').v2;

function readInput() {
  if (process.argv[2]) return Promise.resolve(process.argv[2]);
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { text += chunk; });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const optionSets = JSON.parse(await readInput());
  if (!Array.isArray(optionSets)) throw new Error('expected a JSON list of option objects');
  const urls = optionSets.map((given) => {
    const { public_id: publicId = 'sample', ...options } = given;
    // SDK 2.x makes https URLs on its own CDN unless `secure: false` is passed with each call
    // (config().secure is not consulted); only then does it use the cname from CLOUDINARY_URL,
    // and the test server speaks plain http.
    return cloudinary.url(publicId, { secure: false, ...options });
  });
  process.stdout.write(JSON.stringify(urls));
}

main().catch((error) => {
  process.stderr.write(`delivery_urls failed: ${error && error.stack}\n`);
  process.exit(1);
});
