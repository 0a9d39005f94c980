/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), the scheme app-backend
 * verifies: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
 * Uses WebCrypto (`crypto.subtle`), because the Attio server runtime is web-standard and not
 * Node: `node:crypto` is not available there.
 */
import {bytesToBase64} from "./base64"
import {signingKeyFor} from "./connection"

/** Header names, identical to shared::signing's constants in the Rust crate. */
export const HEADER_ID = "webhook-id"
export const HEADER_TIMESTAMP = "webhook-timestamp"
export const HEADER_SIGNATURE = "webhook-signature"

/** The three Standard Webhooks headers of one signed request. */
export interface SignedHeaders {
    id: string
    timestamp: string
    signature: string
}

/** HMAC-SHA256 over `{id}.{timestamp}.{body}`, returned as `v1,<base64>`. */
export async function signWithKey(
    key: Uint8Array,
    id: string,
    timestamp: number | string,
    body: string
): Promise<string> {
    const cryptoKey = await crypto.subtle.importKey(
        "raw",
        key as BufferSource,
        {name: "HMAC", hash: "SHA-256"},
        false,
        ["sign"]
    )
    const content = new TextEncoder().encode(`${id}.${timestamp}.${body}`)
    const mac = await crypto.subtle.sign("HMAC", cryptoKey, content as BufferSource)
    return `v1,${bytesToBase64(new Uint8Array(mac))}`
}

/** Signs with the connection secret (`whsec_`, or legacy through its derived key); throws ConnectionStringError for a bad secret. */
export async function sign(
    secret: string,
    id: string,
    timestamp: number | string,
    body: string
): Promise<string> {
    return signWithKey(await signingKeyFor(secret), id, timestamp, body)
}

/** A fresh message id: `msg_` + 24 random base64url characters (18 bytes of CSPRNG). */
export function newMessageId(): string {
    const bytes = crypto.getRandomValues(new Uint8Array(18))
    return `msg_${bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`
}

/** Headers for one request: a fresh id, the current unix time, and the signature of `body`. */
export async function signedHeaders(
    secret: string,
    body: string,
    nowMs: number = Date.now()
): Promise<SignedHeaders> {
    const id = newMessageId()
    const timestamp = String(Math.floor(nowMs / 1000))
    return {id, timestamp, signature: await sign(secret, id, timestamp, body)}
}
