import {createHash} from "node:crypto"
/** WebCrypto signing against the published Standard Webhooks vectors and the Rust verifier. */
import assert from "node:assert/strict"
import {readFileSync} from "node:fs"
import {describe, it} from "node:test"

import {ConnectionStringError, signingKey, signingKeyFor} from "../src/lib/connection"
import {newMessageId, sign, signedHeaders} from "../src/lib/signing"
import {newSecret, nodeVerifies, rustVerifies} from "./helpers.ts"

interface Vectors {
    positive: Array<{id: string; secret: string; msg_id: string; timestamp: number; payload: string; expected_signature: string}>
    negative: Array<{id: string; secret: string; msg_id: string; payload: string; "webhook-signature": string}>
}
const vectors = JSON.parse(readFileSync(new URL("./standard-webhooks-vectors.json", import.meta.url), "utf8")) as Vectors

describe("Standard Webhooks vectors (test/standard-webhooks-vectors.json)", () => {
    for (const v of vectors.positive) {
        it(`${v.id}: signature matches the published value`, async () => {
            assert.equal(await sign(v.secret, v.msg_id, v.timestamp, v.payload), v.expected_signature)
        })
        it(`${v.id}: the Rust verifier accepts the published signature (its clock set to the vector's time)`, () => {
            assert.ok(rustVerifies(v.secret, v.msg_id, String(v.timestamp), v.expected_signature, v.payload, v.timestamp))
        })
    }
    it("N1_one_char_changed: our signature differs from the tampered one", async () => {
        const n = vectors.negative[0]
        const ours = await sign(`whsec_${n.secret}`, n.msg_id, vectors.positive[0].timestamp, n.payload)
        assert.equal(ours, vectors.positive[0].expected_signature)
        assert.notEqual(ours, n["webhook-signature"])
        const t = vectors.positive[0].timestamp
        assert.ok(!rustVerifies(`whsec_${n.secret}`, n.msg_id, String(t), n["webhook-signature"], n.payload, t))
    })
})

describe("signedHeaders", () => {
    it("makes a fresh msg_ id, the current unix time, and a v1 signature the Rust verifier accepts", async () => {
        const secret = newSecret()
        const body = JSON.stringify({action: "ping", params: {"ünïcode": "✓"}})
        const now = Date.now()
        const headers = await signedHeaders(secret, body, now)
        assert.match(headers.id, /^msg_[A-Za-z0-9_-]{24}$/)
        assert.equal(headers.timestamp, String(Math.floor(now / 1000)))
        assert.match(headers.signature, /^v1,[A-Za-z0-9+/]{43}=$/)
        assert.ok(nodeVerifies(secret, headers.id, headers.timestamp, headers.signature, body))
        assert.ok(rustVerifies(secret, headers.id, headers.timestamp, headers.signature, body))
        assert.ok(!rustVerifies(newSecret(), headers.id, headers.timestamp, headers.signature, body), "another secret must not verify")
    })

    it("never repeats a message id", () => {
        const ids = new Set(Array.from({length: 1000}, () => newMessageId()))
        assert.equal(ids.size, 1000)
    })
})

describe("signingKey", () => {
    it("decodes the part after whsec_", () => {
        assert.equal(signingKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").length, 24)
    })
    it("has no whsec_ key for a legacy secret; signingKeyFor derives SHA-256 of it", async () => {
        assert.throws(() => signingKey("attio-test-secret"), (e: ConnectionStringError) => e.code === "LEGACY_SECRET")
        const derived = await signingKeyFor("attio-test-secret")
        assert.deepEqual(Buffer.from(derived), createHash("sha256").update("attio-test-secret").digest())
        assert.deepEqual(await signingKeyFor("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), signingKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        await assert.rejects(signingKeyFor(""), (e: ConnectionStringError) => e.code === "BAD_SECRET")
    })
    it("refuses a short or damaged secret and never echoes it", () => {
        assert.throws(() => signingKey("whsec_c2hvcnQ="), (e: ConnectionStringError) => e.code === "SHORT_SECRET" && !e.message.includes("c2hvcnQ"))
        assert.throws(() => signingKey("whsec_!!notbase64!!"), (e: ConnectionStringError) => e.code === "BAD_SECRET" && !e.message.includes("notbase64"))
    })
})
