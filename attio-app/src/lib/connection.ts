/**
 * The connection string people paste into Attio: base64 of the JSON
 * `{"uri", "base", "secret", "protocol"?}` made by the generator site (see DESIGN.md,
 * "Connection string"). The app only needs the secret to sign its calls to app-backend, and
 * the uri/base to show a person which auth server they are connecting.
 */
import {base64ToBytes, utf8Decode} from "./base64"

/** What a decoded connection string holds. The secret stays inside this object. */
export interface ConnectionInfo {
    uri: string
    base: string
    /** `"signed-v1"`, or `"legacy"` when the field is absent (a string from the original generator). */
    protocol: "signed-v1" | "legacy"
    /** The raw secret (`whsec_...` for signed-v1). Never log or show it. */
    secret: string
}

/** Minimum HMAC key length accepted, as in DESIGN.md (the Rust verifier refuses shorter keys). */
export const MIN_KEY_BYTES = 24

/** A connection string that cannot be used, with a sentence a person understands. */
export class ConnectionStringError extends Error {
    readonly code: string
    constructor(code: string, message: string) {
        super(message)
        this.name = "ConnectionStringError"
        this.code = code
    }
}

const MAKE_NEW =
    "Make a new connection string with the attio-auth generator and paste it here."

/**
 * Decodes and checks a connection string. Throws ConnectionStringError whose message names
 * what is wrong and never contains the secret.
 */
export function decodeConnectionString(value: string): ConnectionInfo {
    const trimmed = value.trim()
    if (trimmed.length === 0) {
        throw new ConnectionStringError("EMPTY", `The connection string is empty. ${MAKE_NEW}`)
    }
    const bytes = base64ToBytes(trimmed)
    if (bytes === null) {
        throw new ConnectionStringError(
            "NOT_BASE64",
            `This is not a connection string (it is not base64 text). Copy the whole string from the generator, without spaces or quotes.`
        )
    }
    const json = utf8Decode(bytes)
    let parsed: unknown
    try {
        parsed = json === null ? undefined : JSON.parse(json)
    } catch {
        parsed = undefined
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new ConnectionStringError(
            "NOT_JSON",
            `This is not a connection string (its content is not the expected JSON). ${MAKE_NEW}`
        )
    }
    const fields = parsed as Record<string, unknown>
    for (const name of ["uri", "secret"] as const) {
        if (typeof fields[name] !== "string" || (fields[name] as string).trim() === "") {
            throw new ConnectionStringError(
                "MISSING_FIELD",
                `The connection string has no "${name}". ${MAKE_NEW}`
            )
        }
    }
    const uri = (fields.uri as string).trim()
    const base = typeof fields.base === "string" && fields.base.trim() !== "" ? fields.base.trim() : "/api/auth"
    if (!isPlausibleUrl(uri)) {
        throw new ConnectionStringError(
            "BAD_URL",
            `The connection string's auth server address ("${uri}") is not a valid URL. ${MAKE_NEW}`
        )
    }
    const protocolField = fields.protocol
    let protocol: ConnectionInfo["protocol"]
    if (protocolField === undefined || protocolField === null) protocol = "legacy"
    else if (protocolField === "signed-v1") protocol = "signed-v1"
    else {
        throw new ConnectionStringError(
            "UNKNOWN_PROTOCOL",
            `The connection string uses a protocol this app does not know ("${String(protocolField)}"). Update the app, or ${MAKE_NEW.charAt(0).toLowerCase()}${MAKE_NEW.slice(1)}`
        )
    }
    return {uri, base, protocol, secret: fields.secret as string}
}

/**
 * The HMAC key of a `whsec_` signing secret: the base64-decoded part after `whsec_`, as every
 * Standard Webhooks library derives it. A legacy secret (no `whsec_`, from the original
 * generator) has no such key: use `signingKeyFor`, which derives one as app-backend does.
 */
export function signingKey(secret: string): Uint8Array {
    if (!secret.startsWith("whsec_")) {
        throw new ConnectionStringError(
            "LEGACY_SECRET",
            "This secret was made by the old generator and has no whsec_ key of its own."
        )
    }
    const key = base64ToBytes(secret.slice("whsec_".length))
    if (key === null) {
        throw new ConnectionStringError(
            "BAD_SECRET",
            `The connection string's secret is damaged (not base64 after "whsec_"). ${MAKE_NEW}`
        )
    }
    if (key.length < MIN_KEY_BYTES) {
        throw new ConnectionStringError(
            "SHORT_SECRET",
            `The connection string's secret is too short to be safe (${key.length} bytes, at least ${MIN_KEY_BYTES} needed). ${MAKE_NEW}`
        )
    }
    return key
}

/** Same rule as the Rust side's normalize_uri: a scheme is optional (https is assumed). */
function isPlausibleUrl(uri: string): boolean {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? uri : `https://${uri}`
    try {
        const url = new URL(withScheme)
        return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== ""
    } catch {
        return false
    }
}

/** The auth server's address for messages: normalize(uri) + normalize(base). */
export function authServerUrl(info: ConnectionInfo): string {
    const uri = (/^[a-z][a-z0-9+.-]*:\/\//i.test(info.uri) ? info.uri : `https://${info.uri}`).replace(/\/+$/, "")
    const base = `/${info.base.replace(/^\/+/, "").replace(/\/+$/, "")}`
    return base === "/" ? uri : uri + base
}

/**
 * The HMAC key this app signs with for any connection string. For a `whsec_` secret it is
 * `signingKey(secret)`. For a legacy secret (a string from the original generator, which
 * app-backend accepts so that existing installations keep working) it is SHA-256 of the
 * secret's UTF-8 bytes: app-backend's `signing_secret` derives `whsec_` + base64(SHA-256)
 * from the same string, so both sides hold the same 32-byte key and the secret itself
 * still never travels.
 */
export async function signingKeyFor(secret: string): Promise<Uint8Array> {
    if (secret.startsWith("whsec_")) return signingKey(secret)
    if (secret === "") {
        throw new ConnectionStringError("BAD_SECRET", `The connection string has an empty secret. ${MAKE_NEW}`)
    }
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret) as BufferSource)
    return new Uint8Array(digest)
}
