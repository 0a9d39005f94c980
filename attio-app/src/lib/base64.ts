/**
 * Standard base64 (with padding) over bytes, using only `atob`/`btoa`, which both the Attio
 * server runtime (web-standard, not Node) and Node >= 16 provide. `Buffer` is Node-only.
 */

/** Encodes bytes as standard base64 with padding. */
export function bytesToBase64(bytes: Uint8Array): string {
    let binary = ""
    for (const byte of bytes) binary += String.fromCharCode(byte)
    return btoa(binary)
}

/**
 * Decodes standard base64 (padding optional, surrounding whitespace ignored).
 * Returns null instead of throwing, so callers can word their own error.
 */
export function base64ToBytes(text: string): Uint8Array | null {
    const clean = text.trim()
    if (clean.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) return null
    try {
        const binary = atob(clean)
        const bytes = new Uint8Array(binary.length)
        for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
        return bytes
    } catch {
        return null
    }
}

/** UTF-8 decode that refuses invalid sequences instead of inserting U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string | null {
    try {
        return new TextDecoder("utf-8", {fatal: true}).decode(bytes)
    } catch {
        return null
    }
}
