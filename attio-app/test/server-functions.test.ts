/**
 * Every server function against a fake app-backend on 127.0.0.1:0: the path, the exact body,
 * the headers, a signature that node:crypto and our Rust `verify` accept, and the toast a
 * person sees for a success and for an error (the backend's own sentence).
 */
import assert from "node:assert/strict"
import {readdirSync} from "node:fs"
import {after, before, beforeEach, describe, it} from "node:test"

import {toastFor} from "../src/lib/messages"
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
import {ACTOR_EMAIL, FakeBackend, MEMBER_ID, WORKSPACE_ID, assertSignedBy, header, installFakeAttio, newSecret} from "./helpers.ts"

const USER = "a1b2c3d4-0000-4000-8000-000000000001"
const USER2 = "a1b2c3d4-0000-4000-8000-000000000002"
const WORKSPACE_RECORD = "b1b2c3d4-0000-4000-8000-000000000003"
const PERSON = "c1b2c3d4-0000-4000-8000-000000000004"
const COMPANY = "d1b2c3d4-0000-4000-8000-000000000005"
const actor = {email: ACTOR_EMAIL, workspaceMemberId: MEMBER_ID}

interface Case {
    fn: string
    action: string
    call: () => Promise<ActionOutcome<unknown>>
    /** The exact JSON body, in the exact key order. */
    body: Record<string, unknown>
    data: unknown
    /** What the outcome's data must be (defaults to `data`). */
    expectData?: unknown
}

const cases: Array<Case> = [
    {
        fn: "user-details.server",
        action: "user-details",
        call: () => getUserDetails({recordId: USER, actorEmail: ACTOR_EMAIL}),
        body: {action: "user-details", actor, target: {object: "users", recordId: USER}, params: {}},
        data: {banned: false, bannedUntil: null, banReason: null, role: "admin"},
    },
    {
        fn: "update-ban-status.server",
        action: "update-ban-status",
        call: () => updateBanStatus({recordId: USER, actorEmail: ACTOR_EMAIL, banned: true, reason: " spam ", duration: "604800"}),
        body: {
            action: "update-ban-status",
            actor,
            target: {object: "users", recordId: USER},
            params: {banned: true, banReason: "spam", banExpiresIn: 604800},
            reason: "spam",
        },
        data: {success: true},
    },
    {
        fn: "update-ban-status.server (no reason)",
        action: "update-ban-status",
        call: () => updateBanStatus({recordId: USER, actorEmail: ACTOR_EMAIL, banned: true, reason: "  ", duration: "never"}),
        body: {action: "update-ban-status", actor, target: {object: "users", recordId: USER}, params: {banned: true}},
        data: {success: true},
    },
    {
        fn: "update-ban-status.server (unban)",
        action: "update-ban-status",
        call: () => updateBanStatus({recordId: USER, actorEmail: ACTOR_EMAIL, banned: false, reason: "ignored"}),
        body: {action: "update-ban-status", actor, target: {object: "users", recordId: USER}, params: {banned: false}},
        data: {success: true},
    },
    {
        fn: "send-password-reset.server",
        action: "send-password-reset",
        call: () => sendPasswordReset({recordId: USER, actorEmail: ACTOR_EMAIL}),
        body: {action: "send-password-reset", actor, target: {object: "users", recordId: USER}, params: {}},
        data: {success: true, message: "Password reset email sent successfully"},
    },
    {
        fn: "list-sessions.server",
        action: "sessions",
        call: () => listSessions({recordId: USER, actorEmail: ACTOR_EMAIL}),
        body: {action: "sessions", actor, target: {object: "users", recordId: USER}, params: {}},
        data: {sessions: [{id: "s1", userAgent: "Mozilla/5.0 PeerBrowser", ipAddress: "", createdAt: "2026-11-23T08:49:19.026Z", expiresAt: "2026-11-23T09:49:19.025Z", impersonatedBy: "Alice Admin"}]},
    },
    {
        fn: "revoke-session.server",
        action: "revoke-session",
        call: () => revokeSession({recordId: USER, actorEmail: ACTOR_EMAIL, sessionId: "s1"}),
        body: {action: "revoke-session", actor, target: {object: "users", recordId: USER}, params: {sessionId: "s1"}},
        data: {success: true},
    },
    {
        fn: "revoke-all-sessions.server",
        action: "revoke-all-sessions",
        call: () => revokeAllSessions({recordIds: [USER, USER2], actorEmail: ACTOR_EMAIL}),
        body: {
            action: "revoke-all-sessions",
            actor,
            targets: [
                {object: "users", recordId: USER},
                {object: "users", recordId: USER2},
            ],
            params: {},
        },
        data: {success: true},
    },
    {
        fn: "impersonate.server",
        action: "impersonate",
        call: () => impersonate({recordId: USER, actorEmail: ACTOR_EMAIL}),
        body: {action: "impersonate", actor, target: {object: "users", recordId: USER}, params: {}},
        data: {url: "https://auth.example.com/api/auth/attio/impersonation-session?token=abc", expiresAt: "2026-11-23T09:00:00Z"},
        expectData: {url: "https://auth.example.com/api/auth/attio/impersonation-session?token=abc"},
    },
    {
        fn: "list-invitations.server",
        action: "list-org-invitations",
        call: () => listInvitations({recordId: WORKSPACE_RECORD, actorEmail: ACTOR_EMAIL}),
        body: {action: "list-org-invitations", actor, target: {object: "workspaces", recordId: WORKSPACE_RECORD}, params: {}},
        data: {invitations: []},
    },
    {
        fn: "create-invitation.server",
        action: "create-org-invitation",
        call: () => createInvitation({recordId: WORKSPACE_RECORD, actorEmail: ACTOR_EMAIL, email: " carol@example.com ", role: "member"}),
        body: {
            action: "create-org-invitation",
            actor,
            target: {object: "workspaces", recordId: WORKSPACE_RECORD},
            params: {email: "carol@example.com", role: "member"},
        },
        data: {id: "inv1", email: "carol@example.com", role: "member", status: "pending"},
    },
    {
        fn: "cancel-invitation.server",
        action: "cancel-org-invitation",
        call: () => cancelInvitation({recordId: WORKSPACE_RECORD, actorEmail: ACTOR_EMAIL, invitationId: "inv1"}),
        body: {
            action: "cancel-org-invitation",
            actor,
            target: {object: "workspaces", recordId: WORKSPACE_RECORD},
            params: {invitationId: "inv1"},
        },
        data: {success: true},
    },
    {
        fn: "search-users.server",
        action: "search-users",
        call: () => searchUsers({search: " bob ", actorEmail: ACTOR_EMAIL}),
        body: {action: "search-users", actor, params: {search: "bob"}},
        data: {users: [{id: "u1", email: "bob@example.com", name: "Bob", image: null}]},
    },
    {
        fn: "get-org-roles.server",
        action: "get-org-roles",
        call: () => getOrgRoles({actorEmail: ACTOR_EMAIL}),
        body: {action: "get-org-roles", actor, params: {}},
        data: {roles: ["member", "admin", "owner"]},
    },
    {
        fn: "create-user.server",
        action: "create-user",
        call: () => createUser({recordId: PERSON, actorEmail: ACTOR_EMAIL, email: "dave@example.com", name: " Dave D "}),
        body: {
            action: "create-user",
            actor,
            target: {object: "people", recordId: PERSON},
            params: {email: "dave@example.com", name: "Dave D"},
        },
        data: {user: {id: "u9", email: "dave@example.com"}},
    },
    {
        fn: "create-organization.server",
        action: "create-organization",
        call: () => createOrganization({recordId: COMPANY, actorEmail: ACTOR_EMAIL, name: "Acme"}),
        body: {
            action: "create-organization",
            actor,
            target: {object: "companies", recordId: COMPANY},
            params: {name: "Acme"},
        },
        data: {organization: {id: "o1", name: "Acme", slug: "acme"}},
    },
]

/** The toast titles a person sees, [success, failure], written out here so a change shows. */
const TITLES: Record<string, [string, string]> = {
    "user-details": ["User status", "Could not load the user's status"],
    "update-ban-status": ["Ban status updated", "Could not update the ban status"],
    "send-password-reset": ["Password reset sent", "Could not send the password reset"],
    sessions: ["Sessions", "Could not load the sessions"],
    "revoke-session": ["Session revoked", "Could not revoke the session"],
    "revoke-all-sessions": ["Sessions revoked", "Could not revoke the sessions"],
    impersonate: ["Impersonation started", "Could not impersonate the user"],
    "list-org-invitations": ["Invitations", "Could not load the invitations"],
    "create-org-invitation": ["Invitation sent", "Could not send the invitation"],
    "cancel-org-invitation": ["Invitation canceled", "Could not cancel the invitation"],
    "search-users": ["Users", "Could not search users"],
    "get-org-roles": ["Roles", "Could not load the roles"],
    "create-user": ["User created", "Could not create the user"],
    "create-organization": ["Workspace created", "Could not create the workspace"],
}

const backend = new FakeBackend()
let secret = ""

before(async () => {
    await backend.start()
})
after(async () => {
    await backend.stop()
})
beforeEach(() => {
    backend.reset()
    secret = newSecret()
    installFakeAttio(backend.url, secret)
})

for (const c of cases) {
    describe(c.fn, () => {
        it(`sends one signed POST /v1/actions/${c.action} and shows the backend's success message`, async () => {
            const message = `Backend says ${c.action} went fine.`
            backend.reply(200, {ok: true, message, data: c.data})
            const outcome = await c.call()

            const request = backend.only()
            assert.equal(request.method, "POST")
            assert.equal(request.path, `/v1/actions/${c.action}`)
            assert.equal(request.body, JSON.stringify(c.body), "exact body bytes, key order included")
            assert.equal(header(request, "content-type"), "application/json")
            assert.equal(header(request, "attio-workspace-id"), WORKSPACE_ID)
            assertSignedBy(secret, request)

            assert.deepEqual(outcome, {ok: true, message, data: c.expectData ?? c.data})
            assert.deepEqual(toastFor(c.action, outcome), {variant: "success", title: TITLES[c.action][0], text: message})
        })

        it("shows the backend's error message", async () => {
            const message = `The auth server refused ${c.action}: user not found.`
            backend.reply(404, {ok: false, error: {code: "USER_NOT_FOUND", message}})
            const outcome = await c.call()
            assert.equal(backend.only().path, `/v1/actions/${c.action}`)
            assert.deepEqual(outcome, {ok: false, code: "USER_NOT_FOUND", message, status: 404})
            assert.deepEqual(toastFor(c.action, outcome), {variant: "error", title: TITLES[c.action][1], text: message})
        })
    })
}

describe("revoke-all-sessions.server (bulk results)", () => {
    it("passes on per-record results", async () => {
        backend.reply(200, {
            ok: true,
            message: "Revoked the sessions of 1 of 2 users.",
            data: null,
            results: [
                {recordId: USER, ok: true, message: "Revoked 3 sessions."},
                {recordId: USER2, ok: false, message: "No auth user for this record."},
            ],
        })
        const outcome = await revokeAllSessions({recordIds: [USER, USER2], actorEmail: ACTOR_EMAIL})
        assert.equal(outcome.ok, true)
        assert.deepEqual(outcome.ok && outcome.results, [
            {recordId: USER, ok: true, message: "Revoked 3 sessions."},
            {recordId: USER2, ok: false, message: "No auth user for this record."},
        ])
    })
})

describe("impersonate.server (token only)", () => {
    it("builds the link from the one-time token and the connection string's auth server URL", async () => {
        backend.reply(200, {ok: true, message: "Impersonation link ready.", data: {success: true, sessionToken: "tok/+1"}})
        const outcome = await impersonate({recordId: USER, actorEmail: ACTOR_EMAIL})
        assert.deepEqual(outcome, {
            ok: true,
            message: "Impersonation link ready.",
            data: {url: "https://auth.example.com/api/auth/attio/impersonation-session?token=tok%2F%2B1"},
        })
    })
})

describe("create-user.server (no name)", () => {
    it("sends the email's local part as the required name", async () => {
        backend.reply(200, {ok: true, message: "Created.", data: {}})
        await createUser({recordId: PERSON, actorEmail: ACTOR_EMAIL, email: "erin@example.com", name: null})
        assert.deepEqual(JSON.parse(backend.only().body).params, {email: "erin@example.com", name: "erin"})
    })
})

describe("create-organization.server (no name)", () => {
    it("explains that the company needs a name, without calling the backend", async () => {
        const outcome = await createOrganization({recordId: COMPANY, actorEmail: ACTOR_EMAIL, name: "  "})
        assert.deepEqual(outcome, {ok: false, code: "NO_NAME", message: "This company has no name in Attio. Give it a name, then try again."})
        assert.equal(backend.requests.length, 0)
    })
})

describe("revoke-all-sessions.server (every record failed)", () => {
    it("shows the record's own reason from a 200 with ok: false", async () => {
        backend.reply(200, {
            ok: false,
            message: "Done for 0 of 1 records; 1 failed.",
            data: null,
            results: [{recordId: null, ok: false, message: "This users record has no user_id yet.", code: "NOT_LINKED"}],
        })
        const outcome = await revokeAllSessions({recordIds: [USER, USER2], actorEmail: ACTOR_EMAIL})
        assert.deepEqual(outcome, {
            ok: false,
            code: "ALL_FAILED",
            message: "This users record has no user_id yet.",
            status: 200,
            results: [{recordId: null, ok: false, message: "This users record has no user_id yet."}],
        })
        assert.equal(toastFor("revoke-all-sessions", outcome).text, "This users record has no user_id yet.")
    })
})

describe("impersonate.server (no link)", () => {
    it("fails with a clear message when the backend sends no http(s) link", async () => {
        backend.reply(200, {ok: true, message: "ok", data: {url: "javascript:alert(1)"}})
        const outcome = await impersonate({recordId: USER, actorEmail: ACTOR_EMAIL})
        assert.equal(outcome.ok, false)
        assert.match(outcome.ok ? "" : outcome.message, /did not send an impersonation link/)
    })
})

describe("actor", () => {
    it("sends null for a blank actor email and falls back to the connection's creator id", async () => {
        const {fake} = await import("./fakes/attio-server.ts")
        fake.currentUser = null
        backend.reply(200, {ok: true, message: "fine", data: {}})
        await getOrgRoles({actorEmail: "  "})
        const body = JSON.parse(backend.only().body)
        assert.deepEqual(body.actor, {email: null, workspaceMemberId: MEMBER_ID})
    })
})

describe("coverage", () => {
    it("every src/server/*.server.ts has a case here", () => {
        const files = readdirSync(new URL("../src/server/", import.meta.url)).filter((f) => f.endsWith(".server.ts"))
        const covered = new Set(cases.map((c) => `${c.fn.split(" ")[0]}.ts`))
        assert.deepEqual(files.filter((f) => !covered.has(f)), [])
        assert.equal(files.length, 14)
    })
})
