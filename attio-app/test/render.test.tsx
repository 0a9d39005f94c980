/**
 * Renders every extension under src/app/extensions (widgets, dialogs, actions) with
 * `react-dom/server`, the Attio components replaced by the HTML doubles of
 * test/fakes/attio-client.tsx, and the real server functions talking to a fake app-backend.
 * Each test reads the text a person sees in one state and presses the buttons, checking the
 * backend call each one makes (action, record and params) and the toast that follows.
 */
import assert from "node:assert/strict"
import {readdirSync} from "node:fs"
import {after, before, beforeEach, describe, it} from "node:test"

import type {ReactElement} from "react"
import {renderToString} from "react-dom/server"

import authStatus from "../src/app/extensions/auth-status-widget/extension"
import banUser from "../src/app/extensions/ban-user/extension"
import bulkRevokeSessions from "../src/app/extensions/bulk-revoke-sessions/extension"
import createAuthUser from "../src/app/extensions/create-auth-user/extension"
import createAuthWorkspace from "../src/app/extensions/create-auth-workspace/extension"
import impersonateUser from "../src/app/extensions/impersonate-user/extension"
import inviteToWorkspace from "../src/app/extensions/invite-to-workspace/extension"
import revokeAllSessions from "../src/app/extensions/revoke-all-sessions/extension"
import sendPasswordReset from "../src/app/extensions/send-password-reset/extension"
import userSessions from "../src/app/extensions/user-sessions/extension"
import userSessionsWidget from "../src/app/extensions/user-sessions-widget/extension"
import workspaceInvitationsWidget from "../src/app/extensions/workspace-invitations-widget/extension"
import {clock} from "../src/lib/clock"
import {resetUi, settle, trigger, ui} from "./fakes/attio-client.tsx"
import {fake} from "./fakes/attio-server.ts"
import {ACTOR_EMAIL, FakeBackend, MEMBER_ID, installFakeAttio, newSecret} from "./helpers.ts"

const USER = "a1b2c3d4-0000-4000-8000-000000000001"
const USER2 = "a1b2c3d4-0000-4000-8000-000000000002"
const WORKSPACE_RECORD = "b1b2c3d4-0000-4000-8000-000000000003"
const PERSON = "c1b2c3d4-0000-4000-8000-000000000004"
const COMPANY = "d1b2c3d4-0000-4000-8000-000000000005"
const actor = {email: ACTOR_EMAIL, workspaceMemberId: MEMBER_ID}
const CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
const SAFARI_IPHONE =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"

const backend = new FakeBackend()

// The viewer's time zone is the runtime's: fixed here so the text is the same on any machine.
process.env.TZ = "America/New_York"
/** "Now" for the dialogs that show a future time: 2026-12-09 15:56 UTC. */
const NOW = Date.parse("2026-12-09T15:56:00Z")
clock.now = () => NOW

/** Visible text of the server-rendered HTML: tags dropped, entities decoded, spaces collapsed. */
function visible(html: string): string {
    return html
        .replace(/<!-- -->/g, "")
        .replace(/<[^>]+>/g, " ")
        .replace(/&#x27;/g, "'")
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&")
        .replace(/\s+/g, " ")
        .trim()
}

/** Renders once; the triggers seen are those of this render only. */
function render(element: ReactElement): string {
    ui.triggers.length = 0
    return visible(renderToString(element))
}

/** First render (loading), then waits for the loaders and renders what the person sees. */
async function renderLoaded(element: ReactElement): Promise<{loading: string; loaded: string}> {
    const loading = render(element)
    await settle()
    return {loading, loaded: render(element)}
}

/** The only dialog opened since the last reset: its title and its content element. */
function openedDialog(): {title: string; element: ReactElement; hidden: () => number} {
    assert.equal(ui.dialogs.length, 1, "exactly one dialog opened")
    const {title, Dialog} = ui.dialogs[0]
    let hides = 0
    return {title, element: <Dialog hideDialog={() => void hides++} />, hidden: () => hides}
}

const ok = (data: unknown, message = "Done.") => ({ok: true, message, data})
const fail = (code: string, message: string) => ({ok: false, error: {code, message}})

before(async () => {
    await backend.start()
})
after(async () => {
    await backend.stop()
})
beforeEach(() => {
    backend.reset()
    resetUi()
    installFakeAttio(backend.url, newSecret())
    ui.answerQuery = (query) => (query.includes("currentUser") ? {currentUser: {email: ACTOR_EMAIL}} : {})
})

/** The not-connected state every loader-backed screen shows when there is no connection. */
function disconnect(): void {
    fake.connection = null
}

describe("auth-status-widget", () => {
    const widget = () => <authStatus.Widget recordId={USER} object="users" />

    it("shows loading, then the role and that the user is active", async () => {
        backend.replyTo("user-details", 200, ok({banned: false, banReason: null, bannedUntil: null, role: "admin"}))
        const {loading, loaded} = await renderLoaded(widget())
        assert.equal(loading, "Loading...")
        assert.equal(loaded, "Auth status Active Active Role: admin · Not banned")
        assert.deepEqual(backend.bodiesFor("user-details"), [{action: "user-details", actor, target: {object: "users", recordId: USER}, params: {}}])
    })

    it("shows a ban with its end in the viewer's time zone and its reason", async () => {
        backend.replyTo("user-details", 200, ok({banned: true, banReason: "spam", bannedUntil: "2026-11-30T08:49:14.730Z", role: "user"}))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Auth status Banned Banned until Nov 30, 2026, 3:49 AM EST Role: user · Reason: spam")
    })

    it("shows the backend's sentence when loading fails", async () => {
        backend.replyTo("user-details", 404, fail("RECORD_NOT_LINKED", "This Attio record has no `user_id`."))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Auth status Error Could not load This Attio record has no `user_id`.")
    })

    it("says where to connect when the workspace has no connection", async () => {
        disconnect()
        const {loaded} = await renderLoaded(widget())
        assert.match(loaded, /^Auth status Not connected Not connected This app is not connected .*Workspace settings → Apps/)
        assert.equal(backend.requests.length, 0)
    })
})

describe("user-sessions-widget", () => {
    const widget = () => <userSessionsWidget.Widget recordId={USER} object="users" />
    const sessions = {
        sessions: [
            {id: "s2", userAgent: SAFARI_IPHONE, ipAddress: "198.51.100.4", createdAt: "2026-11-24T10:00:00.000Z", expiresAt: "2026-12-01T10:00:00.000Z", impersonatedBy: "Alice Admin"},
            {id: "s1", userAgent: CHROME_MAC, ipAddress: "203.0.113.7", createdAt: "2026-11-23T08:49:19.026Z", expiresAt: "2026-11-30T08:49:19.000Z"},
        ],
        totalCount: 3,
        activeCount: 2,
    }

    it("shows the count of active sessions and the latest device, browser and IP", async () => {
        backend.replyTo("sessions", 200, ok(sessions))
        const {loading, loaded} = await renderLoaded(widget())
        assert.equal(loading, "Loading...")
        assert.equal(loaded, "Sessions 2 active Latest: Safari 17 on iOS Mobile (iOS) · IP 198.51.100.4 · since 2026-11-24 10:00 UTC · impersonated by Alice Admin")
        assert.deepEqual(backend.bodiesFor("sessions"), [{action: "sessions", actor, target: {object: "users", recordId: USER}, params: {}}])
    })

    it("opens the sessions dialog, which lists the sessions and revokes one", async () => {
        backend.replyTo("sessions", 200, ok(sessions))
        await renderLoaded(widget())
        await trigger("widget").press()
        const dialog = openedDialog()
        assert.equal(dialog.title, "Sessions")

        backend.reset()
        backend.replyTo("sessions", 200, ok(sessions))
        const {loaded} = await renderLoaded(dialog.element)
        assert.match(loaded, /Device Browser IP Created Expires Impersonated by Mobile \(iOS\) Safari 17 198\.51\.100\.4 2026-11-24 10:00 UTC 2026-12-01 10:00 UTC Alice Admin Desktop \(macOS\) Chrome 120 203\.0\.113\.7/)
        backend.replyTo("revoke-session", 200, ok({success: true}, "Session revoked."))
        await trigger("Revoke: Chrome 120 on macOS").press()
        assert.deepEqual(backend.bodiesFor("revoke-session"), [
            {action: "revoke-session", actor, target: {object: "users", recordId: USER}, params: {sessionId: "s1"}},
        ])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "Session revoked", text: "Session revoked.", durationMs: 4_000}])
        assert.deepEqual(ui.invalidated, ["outcome"])
    })

    it("shows an empty state without a button when no session is active", async () => {
        backend.replyTo("sessions", 200, ok({sessions: [{id: "old", userAgent: CHROME_MAC, ipAddress: "", createdAt: "2026-01-01T00:00:00Z", expiresAt: "2026-01-02T00:00:00Z"}], totalCount: 1, activeCount: 0}))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Sessions 0 active No active sessions This user is signed out everywhere.")
        assert.equal(ui.triggers.length, 0)
    })

    it("shows the backend's sentence when loading fails", async () => {
        backend.replyTo("sessions", 502, fail("PLUGIN_UNREACHABLE", "The auth server did not answer."))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Sessions Error Could not load The auth server did not answer.")
        assert.equal(ui.triggers.length, 0)
    })

    it("names the backend's console when the workspace is not installed there", async () => {
        backend.replyTo("sessions", 404, fail("NOT_INSTALLED", "This Attio workspace has no installation; install the app first."))
        const {loaded} = await renderLoaded(widget())
        assert.equal(
            loaded,
            `Sessions Error Could not load This Attio workspace is not installed on the attio-auth backend yet. Open ${backend.url}/console to install it with the same connection string, then try again.`
        )
    })

    it("says where to connect when the workspace has no connection", async () => {
        disconnect()
        const {loaded} = await renderLoaded(widget())
        assert.match(loaded, /^Sessions Not connected Not connected .*connect it in Workspace settings → Apps/)
    })
})

describe("workspace-invitations-widget", () => {
    const widget = () => <workspaceInvitationsWidget.Widget recordId={WORKSPACE_RECORD} object="workspaces" />
    const invitations = {
        invitations: [
            {id: "inv3", email: "old@example.com", role: "member", status: "accepted", expiresAt: "2026-11-20T00:00:00Z", inviter: {name: "Alice"}},
            {id: "inv2", email: "carol@example.com", role: "admin,member", status: "pending", expiresAt: "2026-12-01T12:00:00Z", inviter: {name: "Alice"}},
            {id: "inv1", email: "dave@example.com", role: "member", status: "pending", expiresAt: "2026-12-01T09:00:00Z", inviter: {email: "bob@example.com"}},
        ],
        count: 3,
    }

    it("shows the count of pending invitations and the latest", async () => {
        backend.replyTo("list-org-invitations", 200, ok(invitations))
        const {loading, loaded} = await renderLoaded(widget())
        assert.equal(loading, "Loading...")
        assert.equal(loaded, "Pending invitations 2 pending Latest: carol@example.com admin, member · invited by Alice · expires 2026-12-01 12:00 UTC")
        assert.deepEqual(backend.bodiesFor("list-org-invitations"), [
            {action: "list-org-invitations", actor, target: {object: "workspaces", recordId: WORKSPACE_RECORD}, params: {}},
        ])
    })

    it("shows an empty state whose button still opens the invite dialog", async () => {
        backend.replyTo("list-org-invitations", 200, ok({invitations: [], count: 0}))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Pending invitations 0 pending No pending invitations Open to invite someone.")
        await trigger("widget").press()
        assert.equal(openedDialog().title, "Invite user")
    })

    it("shows the backend's sentence when loading fails", async () => {
        backend.replyTo("list-org-invitations", 422, fail("RECORD_NOT_LINKED", "This Attio record has no `workspace_id`."))
        const {loaded} = await renderLoaded(widget())
        assert.equal(loaded, "Pending invitations Error Could not load This Attio record has no `workspace_id`.")
    })

    it("says where to connect when the workspace has no connection", async () => {
        disconnect()
        const {loaded} = await renderLoaded(widget())
        assert.match(loaded, /^Pending invitations Not connected Not connected .*Workspace settings → Apps/)
    })
})

describe("ban-user", () => {
    async function open(): Promise<ReturnType<typeof openedDialog>> {
        await banUser.onTrigger({recordId: USER, object: "users"})
        return openedDialog()
    }

    it("bans with a reason and an expiry, then closes", async () => {
        const dialog = await open()
        assert.equal(dialog.title, "Ban or unban user")
        backend.replyTo("user-details", 200, ok({banned: false, role: "user"}))
        const {loading, loaded} = await renderLoaded(dialog.element)
        assert.equal(loading, "Loading...")
        assert.equal(
            loaded,
            "Active Not banned Reason Expires Never expires 1 hour 1 day 7 days 30 days 1 year The ban does not end until someone unbans the user. Ban user and end their sessions"
        )

        ui.formValues = {reason: " spam ", duration: "604800"}
        assert.match(render(dialog.element), / 1 year The ban ends Dec 16, 2026, 10:56 AM EST\. Ban user/, "a week from now, New York time")
        backend.replyTo("update-ban-status", 200, ok({success: true}, "Ban status updated."))
        await trigger("submit: Ban user").press()
        assert.deepEqual(backend.bodiesFor("update-ban-status"), [
            {
                action: "update-ban-status",
                actor,
                target: {object: "users", recordId: USER},
                params: {banned: true, banReason: "spam", banExpiresIn: 604800},
                reason: "spam",
            },
        ])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "Ban status updated", text: "Ban status updated.", durationMs: 4_000}])
        assert.equal(dialog.hidden(), 1)
    })

    it("unbans a banned user; a failure keeps the dialog open with the backend's sentence", async () => {
        const dialog = await open()
        backend.replyTo("user-details", 200, ok({banned: true, banReason: "spam", bannedUntil: null, role: "user"}))
        const {loaded} = await renderLoaded(dialog.element)
        assert.equal(loaded, "Banned permanently Reason: spam Unban user")
        backend.replyTo("update-ban-status", 403, fail("FORBIDDEN", "Admins only."))
        await trigger("submit: Unban user").press()
        assert.deepEqual(backend.bodiesFor("update-ban-status")[0]?.params, {banned: false})
        assert.deepEqual(ui.toasts, [{variant: "error", title: "Could not update the ban status", text: "Admins only.", durationMs: 8_000}])
        assert.equal(dialog.hidden(), 0)
    })

    it("shows when the current ban ends, in the viewer's time zone", async () => {
        const dialog = await open()
        backend.replyTo("user-details", 200, ok({banned: true, banReason: null, bannedUntil: "2026-11-30T08:49:14.730Z", role: "user"}))
        assert.equal((await renderLoaded(dialog.element)).loaded, "Banned until Nov 30, 2026, 3:49 AM EST No reason given Unban user")
    })

    it("shows the backend's sentence when the user cannot be loaded", async () => {
        const dialog = await open()
        backend.replyTo("user-details", 404, fail("USER_NOT_FOUND", "No auth user for this record."))
        const {loaded} = await renderLoaded(dialog.element)
        assert.equal(loaded, "No auth user for this record.")
        assert.equal(ui.triggers.length, 0)
    })
})

describe("user-sessions", () => {
    it("opens the sessions dialog: loading, empty and failed states", async () => {
        await userSessions.onTrigger({recordId: USER, object: "users"})
        const dialog = openedDialog()
        assert.equal(dialog.title, "Sessions")
        backend.replyTo("sessions", 200, ok({sessions: [], totalCount: 0, activeCount: 0}))
        const {loading, loaded} = await renderLoaded(dialog.element)
        assert.equal(loading, "Loading...")
        assert.equal(loaded, "This user has no active sessions.")

        resetUi()
        backend.reset()
        backend.replyTo("sessions", 502, fail("PLUGIN_FAILED", "The auth server failed (HTTP 500)."))
        assert.equal((await renderLoaded(dialog.element)).loaded, "The auth server failed (HTTP 500).")
    })
})

describe("invite-to-workspace", () => {
    const roles = {roles: ["owner", "admin", "member"]}
    const invitations = {invitations: [{id: "inv1", email: "dave@example.com", role: "member", status: "pending", expiresAt: "2026-12-01T09:00:00Z", inviter: {name: "Alice"}}]}

    async function open(): Promise<ReturnType<typeof openedDialog>> {
        await inviteToWorkspace.onTrigger({recordId: WORKSPACE_RECORD, object: "workspaces"})
        const dialog = openedDialog()
        assert.equal(dialog.title, "Invite user")
        return dialog
    }

    it("shows roles and pending invitations; sends, searches and cancels", async () => {
        const dialog = await open()
        backend.replyTo("get-org-roles", 200, ok(roles))
        backend.replyTo("list-org-invitations", 200, ok(invitations))
        const {loading, loaded} = await renderLoaded(dialog.element)
        assert.equal(loading, "Loading...")
        assert.equal(loaded, "Email Role Owner Admin Member Send invitation Pending invitations dave@example.com, invited by Alice, expires 2026-12-01 09:00 UTC member Cancel")
        assert.equal(ui.lastFormValues.role, "member", "the role picker starts on member")

        backend.replyTo("search-users", 200, ok({users: [{email: "erin@example.com", name: "Erin"}]}))
        assert.deepEqual(await ui.searches.email.search(" er "), [{value: "erin@example.com", label: "Erin", description: "erin@example.com"}])
        assert.deepEqual(backend.bodiesFor("search-users"), [{action: "search-users", actor, params: {search: "er"}}])
        assert.deepEqual(await ui.searches.email.search("new@example.com"), [{value: "new@example.com", label: "new@example.com", description: "Invite this email"}])
        assert.equal(backend.bodiesFor("search-users").length, 2)

        ui.formValues = {email: "new@example.com", role: "admin"}
        render(dialog.element)
        backend.replyTo("create-org-invitation", 200, ok({id: "inv2"}, "Invitation sent."))
        await trigger("submit: Send invitation").press()
        assert.deepEqual(backend.bodiesFor("create-org-invitation"), [
            {action: "create-org-invitation", actor, target: {object: "workspaces", recordId: WORKSPACE_RECORD}, params: {email: "new@example.com", role: "admin"}},
        ])

        backend.replyTo("cancel-org-invitation", 404, fail("INVITATION_NOT_FOUND", "That invitation no longer exists."))
        await trigger("Cancel: dave@example.com").press()
        assert.deepEqual(backend.bodiesFor("cancel-org-invitation"), [
            {action: "cancel-org-invitation", actor, target: {object: "workspaces", recordId: WORKSPACE_RECORD}, params: {invitationId: "inv1"}},
        ])
        assert.deepEqual(ui.toasts, [
            {variant: "success", title: "Invitation sent", text: "Invitation sent.", durationMs: 4_000},
            {variant: "error", title: "Could not cancel the invitation", text: "That invitation no longer exists.", durationMs: 8_000},
        ])
        assert.deepEqual(ui.invalidated, ["invitations"], "only a success reloads the list")
    })

    it("shows an empty list and each loader's own failure", async () => {
        const dialog = await open()
        backend.replyTo("get-org-roles", 501, fail("NO_ORGANIZATION_PLUGIN", "The auth server has no organization plugin."))
        backend.replyTo("list-org-invitations", 200, ok({invitations: []}))
        assert.equal(
            (await renderLoaded(dialog.element)).loaded,
            "Email The auth server has no organization plugin. Send invitation Pending invitations No pending invitations"
        )
        resetUi()
        backend.reset()
        backend.replyTo("get-org-roles", 200, ok(roles))
        backend.replyTo("list-org-invitations", 422, fail("RECORD_NOT_LINKED", "This Attio record has no `workspace_id`."))
        assert.match((await renderLoaded(dialog.element)).loaded, /Pending invitations This Attio record has no `workspace_id`\.$/)
    })
})

describe("create-auth-user", () => {
    const person = {person: {name: {full_name: "Dave D"}, email_addresses: ["dave@example.com", "DAVE@example.com", "d@work.example"]}}

    it("lets the person pick an email and creates the user", async () => {
        ui.answerQuery = (query) => (query.includes("currentUser") ? {currentUser: {email: ACTOR_EMAIL}} : person)
        await createAuthUser.onTrigger({recordId: PERSON, object: "people"})
        assert.deepEqual(ui.queries[0]?.variables, {id: PERSON})
        const dialog = openedDialog()
        assert.equal(dialog.title, "Create auth user")
        assert.equal(render(dialog.element), "Creates a user in the auth server for Dave D. They sign in with the email you pick. Email dave@example.com d@work.example Create user")

        ui.formValues = {email: "d@work.example"}
        render(dialog.element)
        backend.replyTo("create-user", 200, ok({user: {id: "u9"}}, "User created."))
        await trigger("submit: Create user").press()
        assert.deepEqual(backend.bodiesFor("create-user"), [
            {action: "create-user", actor, target: {object: "people", recordId: PERSON}, params: {email: "d@work.example", name: "Dave D"}},
        ])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "User created", text: "User created.", durationMs: 4_000}])
        assert.equal(dialog.hidden(), 1)
    })

    it("explains that a person without an email cannot become a user", async () => {
        ui.answerQuery = () => ({person: {name: null, email_addresses: []}})
        await createAuthUser.onTrigger({recordId: PERSON, object: "people"})
        assert.equal(ui.dialogs.length, 0)
        assert.deepEqual(ui.toasts, [{variant: "error", title: "Could not create the user", text: "This person has no email address. Add one first."}])
        assert.equal(backend.requests.length, 0)
    })
})

describe("create-auth-workspace", () => {
    it("asks with the company's name, then creates the organization", async () => {
        ui.answerQuery = (query) => (query.includes("currentUser") ? {currentUser: {email: ACTOR_EMAIL}} : {company: {name: "Acme"}})
        ui.confirmAnswers.push(true)
        backend.replyTo("create-organization", 200, ok({organization: {id: "o1"}}, "Organization created."))
        await createAuthWorkspace.onTrigger({recordId: COMPANY, object: "companies"})
        assert.deepEqual(ui.confirms, [{title: "Create a workspace in the auth server?", text: 'A workspace (organization) named "Acme" is created.', confirmLabel: "Create workspace"}])
        assert.deepEqual(backend.bodiesFor("create-organization"), [
            {action: "create-organization", actor, target: {object: "companies", recordId: COMPANY}, params: {name: "Acme"}},
        ])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "Workspace created", text: "Organization created.", durationMs: 4_000}])
    })

    it("does nothing when the person cancels", async () => {
        ui.answerQuery = () => ({company: {name: "Acme"}})
        ui.confirmAnswers.push(false)
        await createAuthWorkspace.onTrigger({recordId: COMPANY, object: "companies"})
        assert.equal(backend.requests.length, 0)
        assert.equal(ui.toasts.length, 0)
    })
})

describe("send-password-reset", () => {
    it("confirms, sends and shows the backend's sentence", async () => {
        ui.confirmAnswers.push(true)
        backend.replyTo("send-password-reset", 200, ok({success: true}, "Password reset email sent."))
        await sendPasswordReset.onTrigger({recordId: USER, object: "users"})
        assert.equal(ui.confirms[0]?.title, "Send a password reset email?")
        assert.deepEqual(backend.bodiesFor("send-password-reset"), [{action: "send-password-reset", actor, target: {object: "users", recordId: USER}, params: {}}])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "Password reset sent", text: "Password reset email sent.", durationMs: 4_000}])
    })

    it("does nothing when the person cancels", async () => {
        ui.confirmAnswers.push(false)
        await sendPasswordReset.onTrigger({recordId: USER, object: "users"})
        assert.equal(backend.requests.length, 0)
    })
})

describe("revoke-all-sessions", () => {
    it("signs the user out everywhere", async () => {
        ui.confirmAnswers.push(true)
        backend.replyTo("revoke-all-sessions", 200, ok({success: true}, "All sessions revoked."))
        await revokeAllSessions.onTrigger({recordId: USER, object: "users"})
        assert.equal(ui.confirms[0]?.confirmVariant, "destructive")
        assert.deepEqual(backend.bodiesFor("revoke-all-sessions"), [{action: "revoke-all-sessions", actor, targets: [{object: "users", recordId: USER}], params: {}}])
        assert.deepEqual(ui.toasts, [{variant: "success", title: "Sessions revoked", text: "All sessions revoked.", durationMs: 4_000}])
    })

    it("shows the record's own failure from a bulk answer", async () => {
        ui.confirmAnswers.push(true)
        backend.replyTo("revoke-all-sessions", 200, {ok: true, message: "Done.", data: null, results: [{recordId: USER, ok: false, message: "No auth user for this record."}]})
        await revokeAllSessions.onTrigger({recordId: USER, object: "users"})
        assert.deepEqual(ui.toasts, [{variant: "error", title: "Could not revoke the sessions", text: "No auth user for this record.", durationMs: 8_000}])
    })
})

describe("impersonate-user", () => {
    it("opens the single-use link in a new tab", async () => {
        const opened: Array<Array<unknown>> = []
        const g = globalThis as unknown as {window?: unknown}
        g.window = {open: (...args: Array<unknown>) => void opened.push(args)}
        try {
            ui.confirmAnswers.push(true)
            backend.replyTo("impersonate", 200, ok({url: "https://auth.example.com/api/auth/attio/impersonation-session?token=t1"}, "Impersonation link created."))
            await impersonateUser.onTrigger({recordId: USER, object: "users"})
            assert.deepEqual(backend.bodiesFor("impersonate"), [{action: "impersonate", actor, target: {object: "users", recordId: USER}, params: {}}])
            assert.deepEqual(opened, [["https://auth.example.com/api/auth/attio/impersonation-session?token=t1", "_blank"]])
            assert.deepEqual(ui.toasts, [{variant: "success", title: "Impersonation started", text: "Impersonation link created.", durationMs: 4_000}])
        } finally {
            delete g.window
        }
    })

    it("opens nothing when the backend refuses", async () => {
        ui.confirmAnswers.push(true)
        backend.replyTo("impersonate", 403, fail("NOT_ADMIN", "You are not an admin of the auth server."))
        await impersonateUser.onTrigger({recordId: USER, object: "users"})
        assert.deepEqual(ui.toasts, [{variant: "error", title: "Could not impersonate the user", text: "You are not an admin of the auth server.", durationMs: 8_000}])
    })
})

describe("bulk-revoke-sessions", () => {
    it("revokes batch by batch and sums up", async () => {
        ui.confirmAnswers.push(true)
        backend.replyTo("revoke-all-sessions", 200, ok(null, "All sessions revoked."))
        backend.replyTo("revoke-all-sessions", 502, fail("PLUGIN_FAILED", "The auth server failed."))
        const progress: Array<unknown> = []
        await bulkRevokeSessions.onTrigger({
            object: "users",
            runRecordBatches: async (options, worker) => {
                progress.push(await options.onStart?.({processedRecords: 0, totalRecords: 3, batchSize: options.batchSize, batchIndex: 0, totalBatches: 2, lastBatchSize: 1}))
                const results = [await worker({recordIds: [USER, USER2]}), await worker({recordIds: ["r3"]})]
                return {success: true, results: results as Array<never>}
            },
        })
        assert.deepEqual(progress, [{title: "Signing users out", text: "0 of 3 users"}])
        assert.deepEqual(
            backend.bodiesFor("revoke-all-sessions").map((b) => b.targets),
            [
                [
                    {object: "users", recordId: USER},
                    {object: "users", recordId: USER2},
                ],
                [{object: "users", recordId: "r3"}],
            ]
        )
        assert.deepEqual(ui.toasts, [
            {variant: "error", title: "Some sessions were not revoked", text: "Revoked the sessions of 2 users; 1 failed: The auth server failed.", durationMs: 8_000},
        ])
    })
})

describe("coverage", () => {
    it("every extension folder under src/app/extensions is rendered here", () => {
        const folders = readdirSync(new URL("../src/app/extensions/", import.meta.url)).sort()
        const tested = [
            authStatus,
            banUser,
            bulkRevokeSessions,
            createAuthUser,
            createAuthWorkspace,
            impersonateUser,
            inviteToWorkspace,
            revokeAllSessions,
            sendPasswordReset,
            userSessions,
            userSessionsWidget,
            workspaceInvitationsWidget,
        ]
            .map((e) => e.id)
            .sort()
        assert.deepEqual(tested, folders)
    })
})
