/**
 * Test helpers: a fake app-backend on 127.0.0.1:0 that records every request and answers
 * what a test queued, connection strings, and two independent signature checks (node:crypto
 * here, and the Rust verifier binary named by ATTIO_AUTH_BIN).
 */
import {spawnSync} from "node:child_process"
import {createHmac, randomBytes, timingSafeEqual} from "node:crypto"
import {existsSync} from "node:fs"
import {type IncomingMessage, type Server, type ServerResponse, createServer} from "node:http"
import type {AddressInfo} from "node:net"

import type {WorkspaceConnection} from "attio/server"

import {fake} from "./fakes/attio-server.ts"

/** One request the fake backend received. */
export interface Recorded {
    method: string
    path: string
    headers: IncomingMessage["headers"]
    body: string
}

/** What the fake backend answers next: a status and a body (object = JSON). */
export interface Reply {
    status: number
    body: unknown
    delayMs?: number
}

export class FakeBackend {
    readonly requests: Array<Recorded> = []
    private readonly replies: Array<Reply> = []
    private readonly byPath = new Map<string, Array<Reply>>()
    private server: Server | null = null
    url = ""

    async start(): Promise<void> {
        this.server = createServer((req, res) => this.handle(req, res))
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve))
        const {port} = this.server.address() as AddressInfo
        this.url = `http://127.0.0.1:${port}`
    }

    async stop(): Promise<void> {
        const server = this.server
        if (server === null) return
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
    }

    /** Queue the answer for the next request. */
    reply(status: number, body: unknown, delayMs?: number): void {
        this.replies.push({status, body, delayMs})
    }

    /**
     * Queue the answer for the next request to `/v1/actions/{action}` (checked before the
     * shared queue), for screens that load several things at once in no fixed order.
     */
    replyTo(action: string, status: number, body: unknown): void {
        const path = `/v1/actions/${action}`
        const queue = this.byPath.get(path) ?? []
        queue.push({status, body})
        this.byPath.set(path, queue)
    }

    /** The requests to `/v1/actions/{action}`, their bodies parsed. */
    bodiesFor(action: string): Array<Record<string, unknown>> {
        return this.requests.filter((r) => r.path === `/v1/actions/${action}`).map((r) => JSON.parse(r.body) as Record<string, unknown>)
    }

    /** The single request received since the last `reset`, checked to be exactly one. */
    only(): Recorded {
        if (this.requests.length !== 1) {
            throw new Error(`expected exactly one request to the backend, got ${this.requests.length}`)
        }
        return this.requests[0]
    }

    reset(): void {
        this.requests.length = 0
        this.replies.length = 0
        this.byPath.clear()
    }

    private handle(req: IncomingMessage, res: ServerResponse): void {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
            this.requests.push({
                method: req.method ?? "",
                path: req.url ?? "",
                headers: req.headers,
                body: Buffer.concat(chunks).toString("utf8"),
            })
            const reply = this.byPath.get(req.url ?? "")?.shift() ?? this.replies.shift() ?? {status: 500, body: {ok: false, error: {code: "NO_REPLY_QUEUED", message: "test queued no reply"}}}
            const send = () => {
                if (res.destroyed) return
                const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
                res.writeHead(reply.status, {
                    "content-type": typeof reply.body === "string" ? "text/plain" : "application/json",
                })
                res.end(text)
            }
            if (reply.delayMs) setTimeout(send, reply.delayMs)
            else send()
        })
    }
}

/** A new signed-v1 secret: `whsec_` + base64 of 32 random bytes, as the generator makes. */
export function newSecret(): string {
    return `whsec_${randomBytes(32).toString("base64")}`
}

/** A connection string for `secret` (base64 of the JSON the generator writes). */
export function connectionString(secret: string, extra: Record<string, unknown> = {}): string {
    const json = JSON.stringify({uri: "https://auth.example.com", base: "/api/auth", secret, protocol: "signed-v1", ...extra})
    return Buffer.from(json, "utf8").toString("base64")
}

export const WORKSPACE_ID = "0f3a4c2e-5b7d-4e1f-9a2b-3c4d5e6f7a8b"
export const MEMBER_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
export const ACTOR_EMAIL = "support@customer.example"

/** Points the fake attio/server at `backendUrl` with a fresh signed connection. */
export function installFakeAttio(backendUrl: string, secret: string): void {
    fake.settings = {backendUrl}
    fake.currentUser = {id: MEMBER_ID}
    fake.connection = workspaceConnection(connectionString(secret))
}

export function workspaceConnection(value: string): WorkspaceConnection {
    return {
        id: "conn_1",
        value,
        connection_key: "auth-server",
        createdBy: {type: "user", id: MEMBER_ID},
        ownedBy: {type: "workspace", id: WORKSPACE_ID},
    }
}

/** Independent check with node:crypto (not the WebCrypto code under test). */
export function nodeVerifies(secret: string, id: string, timestamp: string, signature: string, body: string): boolean {
    const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64")
    const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest()
    return signature.split(" ").some((part) => {
        const [version, b64] = part.split(",", 2)
        if (version !== "v1" || b64 === undefined) return false
        const given = Buffer.from(b64, "base64")
        return given.length === expected.length && timingSafeEqual(given, expected)
    })
}

/**
 * Runs `$ATTIO_AUTH_BIN verify --secret S --id ID --timestamp TS --signature SIG` with the
 * body on stdin; exit 0 = valid, 1 = invalid. Throws (so the test FAILS, never skips) when
 * the binary is not there.
 */
export function rustVerifies(secret: string, id: string, timestamp: string, signature: string, body: string, nowUnix?: number): boolean {
    const bin = process.env.ATTIO_AUTH_BIN
    if (bin === undefined || bin === "") {
        throw new Error(
            "ATTIO_AUTH_BIN is not set. Build the Rust verifier (`cargo build -p attio-auth-backend`) and run the tests with ATTIO_AUTH_BIN=<repo>/target/debug/attio-auth, so the signatures are checked by our Rust `verify`."
        )
    }
    if (!existsSync(bin)) {
        throw new Error(`ATTIO_AUTH_BIN=${bin} does not exist. Build it with \`cargo build -p attio-auth-backend\`.`)
    }
    const args = ["verify", "--secret", secret, "--id", id, "--timestamp", timestamp, "--signature", signature]
    if (nowUnix !== undefined) args.push("--now", String(nowUnix))
    const result = spawnSync(bin, args, {
        input: body,
        encoding: "utf8",
        timeout: 20_000,
    })
    if (result.error) throw new Error(`could not run ${bin}: ${result.error.message}`)
    if (result.status === 0) return true
    if (result.status === 1) return false
    throw new Error(`${bin} verify exited with ${result.status}: ${result.stderr}`)
}

/** Asserts the recorded request carries a signature both verifiers accept. */
export function assertSignedBy(secret: string, request: Recorded): void {
    const id = header(request, "webhook-id")
    const timestamp = header(request, "webhook-timestamp")
    const signature = header(request, "webhook-signature")
    if (!/^msg_[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad webhook-id ${id}`)
    const now = Math.floor(Date.now() / 1000)
    if (Math.abs(Number(timestamp) - now) > 5) throw new Error(`webhook-timestamp ${timestamp} is not now (${now})`)
    if (!nodeVerifies(secret, id, timestamp, signature, request.body)) {
        throw new Error("node:crypto does not accept the signature")
    }
    if (!rustVerifies(secret, id, timestamp, signature, request.body)) {
        throw new Error("the Rust verifier does not accept the signature")
    }
    // A changed body must not verify: proves the body bytes are what is signed.
    if (rustVerifies(secret, id, timestamp, signature, `${request.body} `)) {
        throw new Error("the Rust verifier accepted a changed body")
    }
}

export function header(request: Recorded, name: string): string {
    const value = request.headers[name]
    if (typeof value !== "string") throw new Error(`missing header ${name}`)
    return value
}
