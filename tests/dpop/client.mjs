// A DPoP client for the tests: panva's `dpop` (exactly as package-lock.json pins it) makes
// key pairs and proofs on request. One JSON object a line on stdin, one answer a line on
// stdout:
//   {"op": "key", "alg": "ES256"}         -> {"id": 1, "jwk": {...}, "jkt": "<RFC 7638>"}
//   {"op": "proof", "id": 1, "htu": "...", "htm": "GET", "token": "...", "nonce": null}
//                                                       -> {"proof": "..."}
// The private keys never leave this process (non-extractable WebCrypto keys).
import { createInterface } from "node:readline";
import { calculateThumbprint, generateKeyPair, generateProof } from "dpop";

const keys = new Map();

async function answer(request) {
  if (request.op === "key") {
    const keypair = await generateKeyPair(request.alg);
    const id = keys.size + 1;
    keys.set(id, keypair);
    const jwk = await crypto.subtle.exportKey("jwk", keypair.publicKey);
    return { id, jwk, jkt: await calculateThumbprint(keypair.publicKey) };
  }
  if (request.op === "proof") {
    const keypair = keys.get(request.id);
    const proof = await generateProof(
      keypair,
      request.htu,
      request.htm,
      request.nonce ?? undefined,
      request.token ?? undefined,
    );
    return { proof };
  }
  throw new Error(`unknown op ${request.op}`);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let reply;
  try {
    reply = await answer(JSON.parse(line));
  } catch (error) {
    reply = { error: String(error) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
