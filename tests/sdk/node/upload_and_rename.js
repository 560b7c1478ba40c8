// Uploads a file, renames it and prints the results as JSON (run by tests/sdk/test_node_sdk.py).
// CLOUDINARY_URL must be set before the SDK is required: it picks http or https at load time.
const path = process.argv[2];
const cloudinary = require('cloudinary').v2;

async function main() {
  const uploaded = await cloudinary.uploader.upload(path, {
    public_id: `node/${Date.now()}`, tags: ['node', 'sdk'], context: { alt: 'a|b=c' },
  });
  const renamed = await cloudinary.uploader.rename(uploaded.public_id, `${uploaded.public_id}-renamed`);
  // A 12 MB file in 5 MB chunks: Node announces the total as -1 until the last chunk.
  const chunked = await new Promise((resolve, reject) => {
    cloudinary.uploader.upload_large(process.argv[3], { chunk_size: 5 * 1024 * 1024 },
      (error, result) => (error ? reject(error) : resolve(result)));
  });
  let unsignedError = null;
  try {
    await cloudinary.uploader.unsigned_upload(path, 'no-such-preset');
  } catch (error) {
    unsignedError = error;
  }
  process.stdout.write(JSON.stringify({ uploaded, renamed, chunked, unsignedError }));
}

main().catch((error) => {
  process.stderr.write(`node sdk failed: ${JSON.stringify(error)} ${error && error.stack}\n`);
  process.exit(1);
});
