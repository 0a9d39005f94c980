import {createHash} from "node:crypto"
/** The plain modules: connection strings, backend URL, answers, user agents, formatting. */
import assert from "node:assert/strict"
import {after, before, beforeEach, describe, it} from "node:test"

import {bytesToBase64, base64ToBytes} from "../src/lib/base64"
import {callBackend, fallbackErrorMessage, interpretResponse} from "../src/lib/backend"
import {authServerUrl, decodeConnectionString} from "../src/lib/connection"
import {
    BAN_DURATIONS,
    banEndsText,
    banParams,
    banStateText,
    emailOptions,
    formatDateTime,
    formatLocalDateTime,
    impersonationUrl,
    invitationSummary,
    pendingInvitations,
    roleOptions,
    sessionRows,
    sessionSummary,
    userDetails,
    userOptions,
} from "../src/lib/format"
import {bulkSummary, toastFor} from "../src/lib/messages"
import {DEFAULT_BACKEND_URL, buildBody, resolveBackendUrl} from "../src/lib/protocol"
import {describeUserAgent, parseUserAgent} from "../src/lib/user-agent"
import {FakeBackend, assertSignedBy, connectionString, newSecret} from "./helpers.ts"

/** Runs `body` with the process's time zone set to `zone` (the runtime's default zone). */
function withTimeZone(zone: string, body: () => void): void {
    const before = process.env.TZ
    process.env.TZ = zone
    try {
        body()
    } finally {
        if (before === undefined) delete process.env.TZ
        else process.env.TZ = before
    }
}

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64")

describe("base64", () => {
    it("round-trips every byte value", () => {
        const bytes = Uint8Array.from({length: 256}, (_, i) => i)
        assert.deepEqual(base64ToBytes(bytesToBase64(bytes)), bytes)
        assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString("base64"))
    })
    it("refuses non-base64", () => {
        assert.equal(base64ToBytes("a b"), null)
        assert.equal(base64ToBytes(""), null)
    })
})

describe("decodeConnectionString", () => {
    it("reads a signed-v1 string and defaults base to /api/auth", () => {
        const info = decodeConnectionString(b64({uri: "auth.example.com/", secret: "whsec_x", protocol: "signed-v1"}))
        assert.deepEqual(info, {uri: "auth.example.com/", base: "/api/auth", protocol: "signed-v1", secret: "whsec_x"})
        assert.equal(authServerUrl(info), "https://auth.example.com/api/auth")
    })
    it("treats a missing protocol as legacy", () => {
        assert.equal(decodeConnectionString(b64({uri: "https://a.example", base: "/x", secret: "s"})).protocol, "legacy")
    })
    it("names what is wrong, without echoing the secret", () => {
        const cases: Array<[string, RegExp]> = [
            ["   ", /is empty/],
            ["%%%", /not base64/],
            [b64("not json"), /not the expected JSON/],
            [b64({base: "/x", secret: "whsec_SECRETVALUE"}), /no "uri"/],
            [b64({uri: "https://a.example"}), /no "secret"/],
            [b64({uri: "ftp://a.example", secret: "whsec_SECRETVALUE"}), /not a valid URL/],
            [b64({uri: "https://a.example", secret: "whsec_SECRETVALUE", protocol: "v9"}), /protocol this app does not know/],
        ]
        for (const [value, pattern] of cases) {
            assert.throws(() => decodeConnectionString(value), (e: Error) => pattern.test(e.message) && !e.message.includes("SECRETVALUE"), `for ${value}`)
        }
    })
})

describe("resolveBackendUrl", () => {
    it("uses the hosted backend when the setting is blank", () => {
        assert.deepEqual(resolveBackendUrl(null), {url: DEFAULT_BACKEND_URL})
        assert.deepEqual(resolveBackendUrl("  "), {url: DEFAULT_BACKEND_URL})
    })
    it("keeps a path prefix and drops trailing slashes", () => {
        assert.deepEqual(resolveBackendUrl(" https://auth-backend.corp.example/attio/ "), {url: "https://auth-backend.corp.example/attio"})
    })
    it("explains a bad setting", () => {
        assert.match((resolveBackendUrl("not a url") as {error: string}).error, /not a valid URL/)
        assert.match((resolveBackendUrl("ftp://x.example") as {error: string}).error, /https:\/\//)
        assert.match((resolveBackendUrl("https://x.example/?a=1") as {error: string}).error, /query/)
    })
})

describe("buildBody", () => {
    it("always writes action, actor, target(s), params in that order", () => {
        const actor = {email: "a@b.example", workspaceMemberId: "m"}
        assert.equal(
            buildBody({params: {x: 1}, target: {object: "users", recordId: "r"}, actor, action: "sessions"}),
            '{"action":"sessions","actor":{"email":"a@b.example","workspaceMemberId":"m"},"target":{"object":"users","recordId":"r"},"params":{"x":1}}'
        )
    })
    it("puts the audit reason last, after params, only when there is one", () => {
        const actor = {email: null, workspaceMemberId: "m"}
        assert.equal(
            buildBody({reason: "spam", params: {banned: true}, actor, action: "update-ban-status"}),
            '{"action":"update-ban-status","actor":{"email":null,"workspaceMemberId":"m"},"params":{"banned":true},"reason":"spam"}'
        )
    })
})

describe("callBackend against odd answers", () => {
    const backend = new FakeBackend()
    let secret = ""
    const ctx = () => ({backendUrlSetting: `${backend.url}/prefix/`, workspaceId: "ws", connectionString: connectionString(secret)})
    const request = {action: "get-org-roles" as const, actor: {email: null, workspaceMemberId: null}}
    before(() => backend.start())
    after(() => backend.stop())
    beforeEach(() => {
        backend.reset()
        secret = newSecret()
    })

    it("calls under the setting's path prefix", async () => {
        backend.reply(200, {ok: true, message: "ok", data: {roles: []}})
        await callBackend(ctx(), request)
        assert.equal(backend.only().path, "/prefix/v1/actions/get-org-roles")
        assertSignedBy(secret, backend.only())
    })
    it("uses the action's default sentence when a success has no message", async () => {
        backend.reply(200, {ok: true, data: {roles: ["member"]}})
        assert.deepEqual(await callBackend(ctx(), request), {ok: true, message: "Loaded the roles.", data: {roles: ["member"]}})
    })
    it("explains a non-JSON 502", async () => {
        backend.reply(502, "<html>Bad Gateway</html>")
        assert.deepEqual(await callBackend(ctx(), request), {ok: false, code: "HTTP_502", message: fallbackErrorMessage(502), status: 502})
    })
    it("explains a 401 without a body as a signature problem", async () => {
        backend.reply(401, "")
        const outcome = await callBackend(ctx(), request)
        assert.match(outcome.ok ? "" : outcome.message, /did not accept this app's signature/)
    })
    it("gives up before Attio's 30 s limit with a sentence", async () => {
        backend.reply(200, {ok: true, message: "late"}, 2_000)
        const outcome = await callBackend({...ctx(), timeoutMs: 200}, request)
        assert.deepEqual(outcome, {ok: false, code: "TIMEOUT", message: "The attio-auth backend did not answer within 1 second. Try again in a moment."})
    })
    it("signs a legacy connection string with its derived key, which the Rust verifier accepts", async () => {
        const legacy = b64({uri: "https://a.example", secret: "plain"})
        backend.reply(200, {ok: true, message: "ok", data: null})
        const outcome = await callBackend({...ctx(), connectionString: legacy}, request)
        assert.equal(outcome.ok, true)
        const derived = "whsec_" + createHash("sha256").update("plain").digest("base64")
        assertSignedBy(derived, backend.requests[0])
    })
    it("names the backend's console when the workspace is not installed", async () => {
        backend.reply(404, {ok: false, error: {code: "NOT_INSTALLED", message: "This Attio workspace has no installation; install the app first."}})
        assert.deepEqual(await callBackend(ctx(), request), {
            ok: false,
            code: "NOT_INSTALLED",
            message: `This Attio workspace is not installed on the attio-auth backend yet. Open ${backend.url}/prefix/console to install it with the same connection string, then try again.`,
            status: 404,
        })
        const hosted = interpretResponse("sessions", 404, '{"ok":false,"error":{"code":"NOT_INSTALLED","message":"x"}}', DEFAULT_BACKEND_URL)
        assert.equal(hosted.ok ? "" : hosted.message, `This Attio workspace is not installed on the attio-auth backend yet. Open ${DEFAULT_BACKEND_URL}/console to install it with the same connection string, then try again.`)
        // Other codes keep the backend's own sentence.
        const other = interpretResponse("sessions", 404, '{"ok":false,"error":{"code":"USER_NOT_FOUND","message":"No user."}}', DEFAULT_BACKEND_URL)
        assert.equal(other.ok ? "" : other.message, "No user.")
    })
    it("reports a bad backend URL setting without sending anything", async () => {
        const outcome = await callBackend({...ctx(), backendUrlSetting: "nope"}, request)
        assert.equal(outcome.ok ? "" : outcome.code, "BAD_BACKEND_URL")
    })
    it("treats an unreadable 200 as an error", () => {
        assert.equal(interpretResponse("x", 200, "[]").ok, false)
        assert.equal(interpretResponse("x", 200, '{"ok":false}').ok, false)
    })
})

describe("parseUserAgent", () => {
    const cases: Array<[string, string, string, string]> = [
        ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120", "macOS", "Desktop"],
        ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge 120", "Windows", "Desktop"],
        ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari 17", "iOS", "Mobile"],
        ["Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "Safari 16", "iPadOS", "Tablet"],
        ["Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36", "Chrome 119", "Android", "Mobile"],
        ["Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121", "Linux", "Desktop"],
        ["curl/8.4.0", "curl 8", "Unknown OS", "Bot"],
        ["", "Unknown browser", "Unknown OS", "Unknown"],
    ]
    for (const [ua, browser, os, device] of cases) {
        it(`${browser} on ${os} (${device})`, () => {
            assert.deepEqual(parseUserAgent(ua), {browser, os, device})
        })
    }
    it("describes agents for a table cell", () => {
        assert.equal(describeUserAgent(cases[0][0]), "Chrome 120 on macOS")
        assert.equal(describeUserAgent(null), "Unknown device")
        assert.equal(describeUserAgent("Mozilla/5.0 PeerBrowser"), "Mozilla/5.0 PeerBrowser")
    })
})

describe("format", () => {
    it("prints dates in UTC", () => {
        assert.equal(formatDateTime("2026-11-23T08:49:19.026Z"), "2026-11-23 08:49 UTC")
        assert.equal(formatDateTime(null), "—")
        assert.equal(formatDateTime("garbage"), "—")
    })
    it("turns sessions into rows (the original's shapes, ip '' = unknown)", () => {
        const rows = sessionRows({
            sessions: [
                {id: "s1", userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", ipAddress: "", createdAt: "2026-11-23T08:49:19.026Z", expiresAt: "2026-11-30T08:49:19.025Z", impersonatedBy: "Alice Admin"},
                {id: "s2", userAgent: null, ipAddress: "198.51.100.23", createdAt: null, expiresAt: null, impersonatedBy: null},
                {token: "no id: dropped"},
            ],
        })
        assert.deepEqual(rows, [
            {id: "s1", device: "Desktop (Linux)", browser: "Firefox 121", summary: "Firefox 121 on Linux", ip: "Unknown IP", created: "2026-11-23 08:49 UTC", expires: "2026-11-30 08:49 UTC", impersonatedBy: "Alice Admin"},
            {id: "s2", device: "Unknown device", browser: "Unknown browser", summary: "Unknown device", ip: "198.51.100.23", created: "—", expires: "—", impersonatedBy: "—"},
        ])
    })
    it("sums up sessions for the widget: the backend's active count, else every listed session", () => {
        const s1 = {id: "s1", userAgent: "curl/8.5.0", ipAddress: "192.0.2.1", createdAt: "2026-11-23T08:49:19Z", impersonatedBy: "Alice"}
        const s2 = {id: "s2", userAgent: "", ipAddress: "192.0.2.2"}
        const counted = sessionSummary({sessions: [s1, s2], activeCount: 1})
        assert.equal(counted.activeCount, 1)
        assert.equal(counted.latest?.id, "s1")
        assert.equal(counted.latestImpersonatedBy, "Alice")
        assert.equal(sessionSummary({sessions: [s2, s1]}).activeCount, 2)
        assert.equal(sessionSummary({sessions: [s2, s1]}).latestImpersonatedBy, null)
        assert.deepEqual(sessionSummary({sessions: [s1], activeCount: 0}), {activeCount: 0, latest: null, latestImpersonatedBy: null})
        assert.deepEqual(sessionSummary(null), {activeCount: 0, latest: null, latestImpersonatedBy: null})
        assert.equal(sessionSummary({sessions: [], activeCount: -3}).activeCount, 0)
    })
    it("sums up pending invitations for the widget", () => {
        const summary = invitationSummary({invitations: [{id: "a", status: "canceled", email: "x@example.com"}, {id: "b", status: "pending", email: "y@example.com"}]})
        assert.equal(summary.pendingCount, 1)
        assert.equal(summary.latest?.email, "y@example.com")
        assert.deepEqual(invitationSummary({}), {pendingCount: 0, latest: null})
    })
    it("reads user details and words the ban state", () => {
        const active = userDetails({banned: false, bannedUntil: null, banReason: null, role: "admin"})
        assert.deepEqual(banStateText(active), {status: "Active", detail: "Not banned", color: "green"})
        const banned = userDetails({banned: true, bannedUntil: "2026-11-30T08:49:14.730Z", banReason: "spam", role: "user"})
        withTimeZone("Asia/Tokyo", () => {
            assert.deepEqual(banStateText(banned), {status: "Banned until Nov 30, 2026, 5:49 PM GMT+9", detail: "Reason: spam", color: "red"})
        })
        assert.equal(banStateText(userDetails({banned: true})).status, "Banned permanently")
        assert.deepEqual(userDetails(null), {banned: false, banReason: null, bannedUntil: null, role: null})
    })
    it("prints when a ban ends in the viewer's own time zone", () => {
        const at = "2026-12-09T15:56:00Z"
        withTimeZone("America/New_York", () => assert.equal(formatLocalDateTime(at), "Dec 9, 2026, 10:56 AM EST"))
        withTimeZone("Europe/Berlin", () => assert.equal(formatLocalDateTime(at), "Dec 9, 2026, 4:56 PM GMT+1"))
        withTimeZone("Asia/Kolkata", () => assert.equal(formatLocalDateTime(at), "Dec 9, 2026, 9:26 PM GMT+5:30"))
        assert.equal(formatLocalDateTime("garbage"), "—")
        assert.equal(formatLocalDateTime(null), "—")
        const now = Date.parse("2026-12-09T15:56:00Z")
        withTimeZone("America/Los_Angeles", () => {
            assert.equal(banEndsText("86400", now), "The ban ends Dec 10, 2026, 7:56 AM PST.")
            assert.equal(banEndsText("never", now), "The ban does not end until someone unbans the user.")
            assert.equal(banEndsText(undefined, now), "The ban does not end until someone unbans the user.")
        })
    })
    it("builds ban params from the dialog", () => {
        assert.deepEqual(banParams({banned: true, reason: " ", duration: "never"}), {banned: true})
        assert.deepEqual(banParams({banned: true, reason: "abuse", duration: "86400"}), {banned: true, banReason: "abuse", banExpiresIn: 86400})
        assert.deepEqual(banParams({banned: false, reason: "x", duration: "1"}), {banned: false})
        assert.ok(BAN_DURATIONS.every((d) => d.value === "never" || Number(d.value) > 0))
    })
    it("lists pending invitations only", () => {
        const rows = pendingInvitations({
            invitations: [
                {id: "i1", email: "dan@example.com", role: "member,admin", status: "pending", expiresAt: "2026-11-30T08:49:26.675Z", inviter: {name: "Alice Admin", email: "alice@example.com"}},
                {id: "i2", email: "x@example.com", role: "member", status: "canceled"},
            ],
        })
        assert.deepEqual(rows, [{id: "i1", email: "dan@example.com", role: "member, admin", status: "pending", expires: "2026-11-30 08:49 UTC", inviter: "Alice Admin"}])
    })
    it("makes picker options", () => {
        assert.deepEqual(userOptions({users: [{id: "u", email: "bob@example.com", name: "Bob"}, {email: "x@example.com", name: ""}]}), [
            {value: "bob@example.com", label: "Bob", description: "bob@example.com"},
            {value: "x@example.com", label: "x@example.com"},
        ])
        assert.deepEqual(roleOptions({roles: ["member", "owner", 3]}), [
            {value: "member", label: "Member"},
            {value: "owner", label: "Owner"},
        ])
        assert.deepEqual(emailOptions(["A@x.example", "a@x.example", "", null, "nope", "b@y.example"]), [
            {value: "A@x.example", label: "A@x.example"},
            {value: "b@y.example", label: "b@y.example"},
        ])
    })
    it("accepts only http(s) impersonation links", () => {
        assert.equal(impersonationUrl({url: "https://a.example/x?t=1"}), "https://a.example/x?t=1")
        assert.equal(impersonationUrl({link: "http://127.0.0.1:3000/x"}), "http://127.0.0.1:3000/x")
        assert.equal(impersonationUrl({url: "javascript:alert(1)"}), null)
        assert.equal(impersonationUrl({}), null)
    })
})

describe("messages", () => {
    it("titles toasts per action and shows the backend's sentence", () => {
        assert.deepEqual(toastFor("send-password-reset", {ok: true, message: "Sent to bob@example.com.", data: null}), {
            variant: "success",
            title: "Password reset sent",
            text: "Sent to bob@example.com.",
        })
        assert.deepEqual(toastFor("impersonate", {ok: false, code: "FORBIDDEN", message: "Admins cannot be impersonated."}), {
            variant: "error",
            title: "Could not impersonate the user",
            text: "Admins cannot be impersonated.",
        })
    })
    it("sums up a bulk run", () => {
        assert.deepEqual(bulkSummary([{ok: true, message: "", data: null}], [3]), {variant: "success", title: "Sessions revoked", text: "Revoked all sessions of 3 users."})
        const mixed = bulkSummary(
            [
                {ok: true, message: "", data: null, results: [{recordId: "a", ok: true, message: ""}, {recordId: "b", ok: false, message: "No auth user for this record."}]},
                {ok: false, code: "TIMEOUT", message: "Timed out."},
            ],
            [2, 5]
        )
        assert.deepEqual(mixed, {variant: "error", title: "Some sessions were not revoked", text: "Revoked the sessions of 1 user; 6 failed: No auth user for this record."})
    })
})
