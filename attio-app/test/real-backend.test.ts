/**
 * The app's own server functions against the real stack: `attio-auth-demo` (the Attio
 * sandbox, the demo auth server with the plugin, and app-backend, all on 127.0.0.1) runs as
 * a child process; `attio/server` is the test stub, handing over the demo's connection
 * string, its backend URL and the demo's Attio member. Every action goes through the app's
 * real code (body, WebCrypto signature, headers) to the real backend, so an `ok` answer
 * means the bytes the app signs were accepted; each effect is then read back from the auth
 * server's SQLite database itself (read-only, through Python's standard `sqlite3`, because
 * Node 20 has no `node:sqlite`) or seen through the auth server's own routes.
 *
 * Needs ATTIO_AUTH_DEMO_BIN (`cargo build -p attio-auth-demo`; scripts/test.sh builds and
 * exports it before `npm test`): without it the test fails, it never skips.
 */
import assert from "node:assert/strict"
import {type ChildProcess, spawn, spawnSync} from "node:child_process"
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from "node:fs"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {after, before, describe, it} from "node:test"

import connectionAdded from "../src/app/events/connection-added.event"
import connectionRemoved from "../src/app/events/connection-removed.event"
import type {ActionOutcome} from "../src/lib/protocol"
import cancelInvitation from "../src/server/cancel-invitation.server"
import createInvitation from "../src/server/create-invitation.server"
import createOrganization from "../src/server/create-organization.server"
import createUser from "../src/server/create-user.server"
import getOrgRoles from "../src/server/get-org-roles.server"
import impersonate from "../src/server/impersonate.server"
import listInvitations from "../src/server/list-invitations.server"
import listSessions from "../src/server/list-sessions.server"
import revokeAllSessions from "../src/server/revoke-all-sessions.server"
import revokeSession from "../src/server/revoke-session.server"
import searchUsers from "../src/server/search-users.server"
import sendPasswordReset from "../src/server/send-password-reset.server"
import updateBanStatus from "../src/server/update-ban-status.server"
import getUserDetails from "../src/server/user-details.server"
import {fake} from "./fakes/attio-server.ts"
import {newSecret, nodeVerifies, workspaceConnection} from "./helpers.ts"

/** The demo's Attio workspace member (demo/src/client.rs `DEMO_MEMBER`): Alice, an admin. */
const DEMO_MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
const ALICE = "alice@example.com"
/** The seeded users' password (demo/src/lib.rs `DEMO_PASSWORD`). */
const DEMO_PASSWORD = "demo-password-1"

interface DemoInfo {
    attioApiUrl: string
    attioToken: string
    workspaceId: string
    authUrl: string
    backendUrl: string
    connection: string
}

type Row = Record<string, unknown>

let demo: ChildProcess | null = null
let dataDir = ""
let info: DemoInfo
/** The server functions and events called, for the coverage check at the end. */
const called = new Set<string>()

/** One call the app's code made to the backend, as sent, and the backend's status. */
interface Sent {
    action: string
    body: string
    headers: Headers
    status: number
}
const sent: Array<Sent> = []

/**
 * Records the app's own requests to the backend (the exact body bytes and headers it
 * signed) and the answers' statuses, passing them through unchanged.
 */
function recordBackendCalls(): void {
    const realFetch = globalThis.fetch
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const response = await realFetch(input, init)
        const url = input instanceof Request ? input.url : String(input)
        const prefix = `${info.backendUrl}/v1/actions/`
        if (url.startsWith(prefix) && typeof init?.body === "string") {
            sent.push({action: url.slice(prefix.length), body: init.body, headers: new Headers(init.headers), status: response.status})
        }
        return response
    }
}

function demoBinary(): string {
    const bin = process.env.ATTIO_AUTH_DEMO_BIN
    if (bin === undefined || bin === "") {
        throw new Error(
            "ATTIO_AUTH_DEMO_BIN is not set. Build the demo (`cargo build -p attio-auth-demo`) and run the tests with ATTIO_AUTH_DEMO_BIN=<repo>/target/debug/attio-auth-demo (scripts/test.sh does both)."
        )
    }
    if (!existsSync(bin)) throw new Error(`ATTIO_AUTH_DEMO_BIN=${bin} does not exist. Build it with \`cargo build -p attio-auth-demo\`.`)
    return bin
}

/** Starts the demo on free loopback ports and waits for its "ready" line. */
async function startDemo(): Promise<void> {
    const bin = demoBinary()
    dataDir = mkdtempSync(join(tmpdir(), "attio-app-real-backend-"))
    const args = ["--data-dir", dataDir, "--sandbox-port", "0", "--auth-port", "0", "--backend-port", "0", "--generator-port", "0"]
    const child = spawn(bin, args, {stdio: ["ignore", "pipe", "pipe"], env: {...process.env, RUST_LOG: process.env.RUST_LOG ?? "error"}})
    demo = child
    // Never leave the stack running when this process ends early.
    process.on("exit", () => {
        if (child.exitCode === null) child.kill("SIGKILL")
    })
    let out = ""
    let err = ""
    await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo was not ready within 120 s\nstdout:\n${out}\nstderr:\n${err}`)), 120_000)
        child.stdout!.on("data", (chunk: Buffer) => {
            out += chunk.toString("utf8")
            if (out.includes("attio-auth-demo ready")) {
                clearTimeout(timer)
                resolve()
            }
        })
        child.stderr!.on("data", (chunk: Buffer) => {
            err += chunk.toString("utf8")
        })
        child.on("exit", (code) => {
            clearTimeout(timer)
            reject(new Error(`the demo exited (${code}) before it was ready\nstdout:\n${out}\nstderr:\n${err}`))
        })
    })
    info = JSON.parse(readFileSync(join(dataDir, "demo.json"), "utf8")) as DemoInfo
    for (const url of [info.attioApiUrl, info.authUrl, info.backendUrl]) {
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+/, "loopback only")
    }
}

async function stopDemo(): Promise<void> {
    const child = demo
    if (child !== null && child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
        await exited
        clearTimeout(timer)
    }
    if (dataDir !== "") rmSync(dataDir, {recursive: true, force: true})
}

/** Points the stubbed `attio/server` at the demo: its connection, backend and member. */
function installDemoAttio(connection = info.connection): void {
    fake.settings = {backendUrl: info.backendUrl}
    fake.currentUser = {id: DEMO_MEMBER}
    fake.connection = workspaceConnection(connection)
    fake.connection.ownedBy = {type: "workspace", id: info.workspaceId}
    fake.connection.createdBy = {type: "user", id: DEMO_MEMBER}
}

/** Rows of a read-only query on the auth server's SQLite database. */
function db(sql: string, ...params: Array<string | number>): Array<Row> {
    return query(join(dataDir, "auth.db"), sql, params)
}

/** Rows of a read-only query on app-backend's SQLite database (its audit log). */
function backendDb(sql: string, ...params: Array<string | number>): Array<Row> {
    return query(join(dataDir, "backend", "attio-auth.db"), sql, params)
}

function query(file: string, sql: string, params: Array<string | number>): Array<Row> {
    const python = process.env.INTEROP_PYTHON || "python3"
    const script = [
        "import json, sqlite3, sys",
        "c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)",
        "c.row_factory = sqlite3.Row",
        "print(json.dumps([dict(r) for r in c.execute(sys.argv[2], json.loads(sys.argv[3]))]))",
    ].join("\n")
    const result = spawnSync(python, ["-c", script, file, sql, JSON.stringify(params)], {encoding: "utf8", timeout: 20_000})
    if (result.error) throw new Error(`could not run ${python} to read ${file}: ${result.error.message}`)
    if (result.status !== 0) throw new Error(`reading ${file} failed: ${result.stderr}`)
    return JSON.parse(result.stdout) as Array<Row>
}

function userByEmail(email: string): Row {
    const rows = db(`select * from "user" where "email" = ?`, email)
    assert.equal(rows.length, 1, `one auth user ${email}`)
    return rows[0]
}

function sessionIds(userId: string): Array<string> {
    return db(`select "id" from "session" where "userId" = ? order by "id"`, userId).map((r) => String(r.id))
}

async function attio(path: string, body: unknown): Promise<Row> {
    const res = await fetch(`${info.attioApiUrl}${path}`, {
        method: "POST",
        headers: {authorization: `Bearer ${info.attioToken}`, "content-type": "application/json"},
        body: JSON.stringify(body),
    })
    assert.ok(res.ok, `Attio sandbox ${path}: ${res.status}`)
    return (await res.json()) as Row
}

/** Waits (up to 60 s) for the first record of `object` that `match` accepts; its id. */
async function recordId(object: string, match: (record: Row) => boolean): Promise<string> {
    for (let i = 0; i < 600; i++) {
        const {data} = (await attio(`/objects/${object}/records/query`, {limit: 500})) as {data: Array<Row>}
        const found = data.find(match)
        if (found !== undefined) return String((found.id as Row).record_id)
        await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`no ${object} record appeared in the Attio sandbox`)
}

function plain(record: Row, slug: string): unknown {
    const first = ((record.values as Row)[slug] as Array<Row> | undefined)?.[0]
    return first?.value ?? first?.email_address
}

async function userRecord(email: string): Promise<string> {
    return recordId("users", (r) => plain(r, "primary_email_address") === email)
}

/** Signs in on the auth server; the status and the session token. */
async function signIn(email: string, password = DEMO_PASSWORD): Promise<{status: number; token: string | null}> {
    const res = await fetch(`${info.authUrl}/sign-in/email`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({email, password}),
    })
    const body = (await res.json()) as {token?: string}
    return {status: res.status, token: body.token ?? null}
}

/** The user id of a session token on the auth server, or null when the session is gone. */
async function sessionUser(token: string): Promise<string | null> {
    const res = await fetch(`${info.authUrl}/get-session`, {headers: {authorization: `Bearer ${token}`}})
    assert.equal(res.status, 200)
    const body = (await res.json()) as {user?: {id: string}} | null
    return body?.user?.id ?? null
}

function ok<T>(name: string, outcome: ActionOutcome<T>): T {
    called.add(name)
    assert.ok(outcome.ok, `${name}: ${JSON.stringify(outcome)}`)
    return (outcome as {data: T}).data
}

describe("server functions against attio-auth-demo (sandbox + auth server + app-backend)", {timeout: 300_000}, () => {
    let alice: Row
    let bob: Row
    let carol: Row
    let bobRecord: string
    let carolRecord: string

    before(async () => {
        await startDemo()
        recordBackendCalls()
        installDemoAttio()
        alice = userByEmail(ALICE)
        bob = userByEmail("bob@example.com")
        carol = userByEmail("carol@example.com")
        bobRecord = await userRecord("bob@example.com")
        carolRecord = await userRecord("carol@example.com")
    })
    after(stopDemo)

    it("connection-added: the installed string passes the backend's check, another secret is refused", async () => {
        called.add("connection-added.event")
        const connection = workspaceConnection(info.connection)
        connection.ownedBy = {type: "workspace", id: info.workspaceId}
        await connectionAdded({connection})
        const decoded = JSON.parse(Buffer.from(info.connection, "base64").toString("utf8")) as Row
        const other = Buffer.from(JSON.stringify({...decoded, secret: newSecret()}), "utf8").toString("base64")
        const wrong = workspaceConnection(other)
        wrong.ownedBy = {type: "workspace", id: info.workspaceId}
        await assert.rejects(connectionAdded({connection: wrong}), /This connection string did not work/)
    })

    it("user-details reads the auth user", async () => {
        const data = ok("user-details.server", await getUserDetails({recordId: bobRecord, actorEmail: ALICE})) as Row
        assert.equal(data.banned, false)
        assert.equal(data.role ?? null, bob.role ?? null)
    })

    it("sessions lists the user's sessions, revoke-session ends one", async () => {
        const first = await signIn("bob@example.com")
        const second = await signIn("bob@example.com")
        assert.equal(first.status, 200)
        assert.ok(first.token !== null && second.token !== null)
        // Bob's sign-up left a session too.
        const inDb = sessionIds(String(bob.id))
        const tokens = db(`select "token" from "session" where "userId" = ?`, String(bob.id)).map((r) => r.token)
        assert.ok(tokens.includes(first.token) && tokens.includes(second.token), "both sessions are in the auth database")
        const data = ok("list-sessions.server", await listSessions({recordId: bobRecord, actorEmail: ALICE})) as {sessions: Array<Row>}
        assert.deepEqual(data.sessions.map((s) => String(s.id)).sort(), inDb)

        const firstId = db(`select "id" from "session" where "token" = ?`, first.token!)[0].id as string
        ok("revoke-session.server", await revokeSession({recordId: bobRecord, actorEmail: ALICE, sessionId: firstId}))
        assert.deepEqual(sessionIds(String(bob.id)), inDb.filter((id) => id !== firstId))
        assert.equal(await sessionUser(first.token!), null, "the revoked session no longer signs in")
        assert.equal(await sessionUser(second.token!), bob.id, "the other session still works")
    })

    it("update-ban-status bans with the reason and unbans", async () => {
        const before = Date.now()
        ok(
            "update-ban-status.server",
            await updateBanStatus({recordId: bobRecord, actorEmail: ALICE, banned: true, reason: " spam ", duration: "604800"})
        )
        const after = Date.now()
        const banned = userByEmail("bob@example.com")
        assert.equal(Number(banned.banned), 1)
        assert.equal(banned.banReason, "spam")
        const expires = Date.parse(String(banned.banExpires))
        const week = 604_800_000
        assert.ok(expires >= before + week - 2000 && expires <= after + week + 2000, `banExpires ${String(banned.banExpires)} is a week on`)
        assert.deepEqual(sessionIds(String(bob.id)), [], "a ban ends the sessions")
        assert.equal((await signIn("bob@example.com")).status, 403, "a banned user cannot sign in")
        const audit = backendDb(`select * from audit_log where action = 'update-ban-status' order by id desc limit 1`)[0]
        assert.equal(audit.reason, "spam", "the reason is in app-backend's audit log too")
        assert.equal(audit.target_record_id, bobRecord)
        assert.equal(audit.actor_member_id, DEMO_MEMBER)
        assert.equal(Number(audit.ok), 1)

        ok("update-ban-status.server", await updateBanStatus({recordId: bobRecord, actorEmail: ALICE, banned: false}))
        const unbanned = userByEmail("bob@example.com")
        assert.ok(!unbanned.banned, "unbanned in the auth database")
        assert.equal(unbanned.banReason ?? null, null)
        assert.equal((await signIn("bob@example.com")).status, 200, "signs in again")
    })

    it("send-password-reset sends the auth server's reset mail, whose token sets a password", async () => {
        ok("send-password-reset.server", await sendPasswordReset({recordId: bobRecord, actorEmail: ALICE}))
        const res = await fetch(`${info.authUrl}/dev/mailbox`)
        const mails = (await res.json()) as Array<Row>
        const mail = mails.filter((m) => m.kind === "reset-password" && m.to === "bob@example.com").at(-1)
        assert.ok(mail !== undefined, `a reset mail to Bob: ${JSON.stringify(mails)}`)
        assert.equal(mail.userId, bob.id)
        const reset = await fetch(`${info.authUrl}/reset-password`, {
            method: "POST",
            headers: {"content-type": "application/json"},
            body: JSON.stringify({token: mail.token, newPassword: "a-new-password-2"}),
        })
        assert.equal(reset.status, 200)
        assert.equal((await signIn("bob@example.com", "a-new-password-2")).status, 200)
    })

    it("impersonate gives a single-use link that opens a session as the user, by the admin", async () => {
        const before = new Set(sessionIds(String(carol.id)))
        const data = ok("impersonate.server", await impersonate({recordId: carolRecord, actorEmail: ALICE}))
        assert.ok(data.url.startsWith(info.authUrl.replace(/\/api\/auth$/, "")), data.url)
        const res = await fetch(data.url, {redirect: "manual"})
        assert.equal(res.status, 302, "the link sets the session and redirects")
        assert.doesNotMatch(res.headers.get("location") ?? "", /error=/)
        const added = db(`select * from "session" where "userId" = ?`, String(carol.id)).filter((s) => !before.has(String(s.id)))
        assert.equal(added.length, 1, "one new session for Carol")
        assert.equal(added[0].impersonatedBy, alice.id, "impersonated by Alice")
        const cookies = res.headers.getSetCookie().join("\n")
        assert.ok(cookies.includes(String(added[0].token)), `the browser gets that session: ${cookies}`)
        assert.equal(await sessionUser(String(added[0].token)), carol.id)
        const again = await fetch(data.url, {redirect: "manual"})
        assert.match(again.headers.get("location") ?? "", /error=invalid_or_used_session/, "the link works once")
    })

    it("revoke-all-sessions ends every session of each record (bulk)", async () => {
        await signIn("carol@example.com")
        assert.ok(sessionIds(String(bob.id)).length > 0 && sessionIds(String(carol.id)).length > 0)
        const data = ok("revoke-all-sessions.server", await revokeAllSessions({recordIds: [bobRecord, carolRecord], actorEmail: ALICE}))
        assert.ok(data !== undefined)
        assert.deepEqual(sessionIds(String(bob.id)), [])
        assert.deepEqual(sessionIds(String(carol.id)), [])
    })

    it("search-users and get-org-roles answer what the auth database holds", async () => {
        const data = ok("search-users.server", await searchUsers({search: " example.com ", actorEmail: ALICE})) as {users: Array<Row>}
        const inDb = db(`select "email" from "user" where "email" like '%example.com%' order by "email"`).map((r) => r.email)
        assert.deepEqual(data.users.map((u) => u.email).sort(), inDb)
        const roles = ok("get-org-roles.server", await getOrgRoles({actorEmail: ALICE})) as {roles: Array<string>}
        assert.deepEqual(roles.roles, ["member", "admin", "owner"])
    })

    it("create-user makes the auth user for a people record", async () => {
        const created = (await attio("/objects/people/records", {
            data: {values: {name: [{first_name: "Dana", last_name: "Demo", full_name: "Dana Demo"}], email_addresses: ["dana@example.com"]}},
        })) as {data: {id: Row}}
        const person = String(created.data.id.record_id)
        ok("create-user.server", await createUser({recordId: person, actorEmail: ALICE, email: " dana@example.com ", name: "Dana Demo"}))
        const dana = userByEmail("dana@example.com")
        assert.equal(dana.name, "Dana Demo")
    })

    it("create-organization makes the auth organization for a companies record", async () => {
        const created = (await attio("/objects/companies/records", {data: {values: {name: "Globex"}}})) as {data: {id: Row}}
        const company = String(created.data.id.record_id)
        ok("create-organization.server", await createOrganization({recordId: company, actorEmail: ALICE, name: " Globex "}))
        const orgs = db(`select * from "organization" where "name" = ?`, "Globex")
        assert.equal(orgs.length, 1, "the organization is in the auth database")
    })

    it("invitations: create, list and cancel on a workspaces record", async () => {
        const acme = db(`select "id" from "organization" where "slug" = ?`, "acme")[0].id as string
        const workspace = await recordId("workspaces", (r) => plain(r, "workspace_id") === acme)
        ok("create-invitation.server", await createInvitation({recordId: workspace, actorEmail: ALICE, email: " erin@example.com ", role: "member"}))
        const rows = db(`select * from "invitation" where "organizationId" = ? and "email" = ?`, acme, "erin@example.com")
        assert.equal(rows.length, 1, "the invitation is in the auth database")
        assert.equal(rows[0].status, "pending")
        assert.equal(rows[0].role, "member")
        assert.equal(rows[0].inviterId, alice.id)

        const listed = ok("list-invitations.server", await listInvitations({recordId: workspace, actorEmail: ALICE})) as {invitations: Array<Row>}
        assert.deepEqual(
            listed.invitations.map((i) => i.id),
            [rows[0].id]
        )

        ok("cancel-invitation.server", await cancelInvitation({recordId: workspace, actorEmail: ALICE, invitationId: String(rows[0].id)}))
        assert.equal(db(`select "status" from "invitation" where "id" = ?`, String(rows[0].id))[0].status, "canceled")
    })

    it("connection-removed uninstalls: the backend then refuses the workspace's calls", async () => {
        called.add("connection-removed.event")
        const connection = workspaceConnection(info.connection)
        connection.ownedBy = {type: "workspace", id: info.workspaceId}
        assert.equal(db(`select count(*) as n from "attioIntegration"`)[0].n, 1, "linked before")
        await connectionRemoved({connection})
        assert.equal(db(`select count(*) as n from "attioIntegration"`)[0].n, 0, "uninstall unlinks the plugin in the auth database")
        const outcome = await getUserDetails({recordId: bobRecord, actorEmail: ALICE})
        assert.equal(outcome.ok, false)
        assert.equal((outcome as {code: string}).code, "NOT_INSTALLED", JSON.stringify(outcome))
    })

    it("every call was the app's own signed bytes, and the backend accepted each one signed with the installed secret", () => {
        const secret = String((JSON.parse(Buffer.from(info.connection, "base64").toString("utf8")) as Row).secret)
        const ownSecret = sent.filter((c) => {
            const [id, timestamp, signature] = ["webhook-id", "webhook-timestamp", "webhook-signature"].map((h) => c.headers.get(h) ?? "")
            return nodeVerifies(secret, id, timestamp, signature, c.body)
        })
        // The refused connection-check (another secret) and the call after `uninstall` are
        // the only ones not accepted.
        const refused = sent.filter((c) => c.status !== 200).map((c) => `${c.action} ${c.status}`)
        assert.equal(refused.length, 2, `refused: ${refused.join(", ")}`)
        assert.equal(ownSecret.length, sent.length - 1, "all but the deliberately wrong string are signed with the installed secret")
        for (const c of ownSecret.slice(0, -1)) {
            assert.equal(c.status, 200, `${c.action} was accepted`)
            assert.equal(c.headers.get("attio-workspace-id"), info.workspaceId)
            assert.equal((JSON.parse(c.body) as {action: string}).action, c.action)
        }
        const actions = new Set(ownSecret.map((c) => c.action))
        for (const action of [
            "connection-check", "user-details", "sessions", "revoke-session", "update-ban-status", "send-password-reset",
            "impersonate", "revoke-all-sessions", "search-users", "get-org-roles", "create-user", "create-organization",
            "create-org-invitation", "list-org-invitations", "cancel-org-invitation", "uninstall",
        ]) {
            assert.ok(actions.has(action), `${action} was sent`)
        }
    })

    it("every server function and event was run against the real stack", () => {
        const server = readdirSync(new URL("../src/server", import.meta.url)).filter((f) => f.endsWith(".server.ts"))
        const events = readdirSync(new URL("../src/app/events", import.meta.url)).filter((f) => f.endsWith(".event.ts"))
        const expected = [...server, ...events].map((f) => f.replace(/\.ts$/, "")).sort()
        assert.deepEqual([...called].sort(), expected)
    })
})
