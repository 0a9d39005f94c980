import {createHash} from "node:crypto"
/**
 * The lifecycle events: connection-added refuses a bad string with a sentence a person
 * understands (locally for damaged strings, from the backend otherwise) and registers a good
 * one, legacy strings included, with `connection-check`; connection-removed calls `uninstall` and never blocks.
 */
import assert from "node:assert/strict"
import {after, before, beforeEach, describe, it} from "node:test"

import connectionAdded from "../src/app/events/connection-added.event"
import connectionRemoved from "../src/app/events/connection-removed.event"
import {fake} from "./fakes/attio-server.ts"
import {FakeBackend, MEMBER_ID, WORKSPACE_ID, assertSignedBy, connectionString, header, newSecret, workspaceConnection} from "./helpers.ts"

const backend = new FakeBackend()
before(() => backend.start())
after(() => backend.stop())
beforeEach(() => {
    backend.reset()
    fake.settings = {backendUrl: backend.url}
    fake.currentUser = null
    // Inside these events the connection is not saved yet: the handler must use its argument.
    fake.connection = null
})

describe("connection-added.event", () => {
    it("checks a good string with a signed connection-check (the secret itself does not travel)", async () => {
        const secret = newSecret()
        const value = connectionString(secret)
        backend.reply(200, {ok: true, message: "Connected to https://auth.example.com/api/auth (plugin 0.4.0).", data: {version: "0.4.0"}})
        await connectionAdded({connection: workspaceConnection(value)})
        const request = backend.only()
        assert.equal(request.path, "/v1/actions/connection-check")
        assert.equal(header(request, "attio-workspace-id"), WORKSPACE_ID)
        assert.equal(
            request.body,
            JSON.stringify({action: "connection-check", actor: {email: null, workspaceMemberId: MEMBER_ID}, params: {}})
        )
        assert.ok(!request.body.includes(secret.slice(6)) && !request.body.includes(value))
        assertSignedBy(secret, request)
    })

    it("refuses the string with the backend's sentence when the check fails", async () => {
        backend.reply(502, {ok: false, error: {code: "PLUGIN_UNREACHABLE", message: "The auth server at https://auth.example.com/api/auth did not answer."}})
        await assert.rejects(connectionAdded({connection: workspaceConnection(connectionString(newSecret()))}), {
            message: "This connection string did not work: The auth server at https://auth.example.com/api/auth did not answer.",
        })
    })

    it("names the backend's console when the workspace is not installed there yet", async () => {
        fake.settings = {backendUrl: `${backend.url}/attio/`}
        backend.reply(404, {ok: false, error: {code: "NOT_INSTALLED", message: "This Attio workspace has no installation; install the app first."}})
        await assert.rejects(connectionAdded({connection: workspaceConnection(connectionString(newSecret()))}), {
            message: `This connection string did not work: This Attio workspace is not installed on the attio-auth backend yet. Open ${backend.url}/attio/console to install it with the same connection string, then try again.`,
        })
        assert.equal(backend.only().path, "/attio/v1/actions/connection-check")
    })

    it("accepts a legacy string (original generator) and signs the check with its derived key", async () => {
        const legacySecret = "attio-test-secret"
        const legacy = Buffer.from(JSON.stringify({uri: "https://auth.example.com", base: "/api/auth", secret: legacySecret})).toString("base64")
        backend.reply(200, {ok: true, message: "Connected.", data: {}})
        await connectionAdded({connection: workspaceConnection(legacy)})
        assert.equal(backend.requests.length, 1)
        // app-backend verifies legacy calls with whsec_ + base64(SHA-256(secret)).
        const derived = "whsec_" + createHash("sha256").update(legacySecret).digest("base64")
        assertSignedBy(derived, backend.requests[0])
        assert.doesNotMatch(backend.requests[0].body, /attio-test-secret/)
    })

    it("refuses text that is not a connection string", async () => {
        await assert.rejects(connectionAdded({connection: workspaceConnection("hello world!")}), /not a connection string/)
        await assert.rejects(connectionAdded({connection: workspaceConnection(Buffer.from("[1,2]").toString("base64"))}), /not the expected JSON/)
        assert.equal(backend.requests.length, 0)
    })

    it("says so when the backend cannot be reached", async () => {
        fake.settings = {backendUrl: "http://127.0.0.1:9"}
        await assert.rejects(connectionAdded({connection: workspaceConnection(connectionString(newSecret()))}), /Could not reach the attio-auth backend at http:\/\/127\.0\.0\.1:9/)
    })
})

describe("connection-removed.event", () => {
    it("sends a signed uninstall", async () => {
        const secret = newSecret()
        backend.reply(200, {ok: true, message: "Uninstalled.", data: null})
        await connectionRemoved({connection: workspaceConnection(connectionString(secret))})
        const request = backend.only()
        assert.equal(request.path, "/v1/actions/uninstall")
        assert.equal(request.body, JSON.stringify({action: "uninstall", actor: {email: null, workspaceMemberId: MEMBER_ID}, params: {}}))
        assertSignedBy(secret, request)
    })

    it("never blocks the removal, even when the backend fails", async () => {
        backend.reply(500, "boom")
        await connectionRemoved({connection: workspaceConnection(connectionString(newSecret()))})
        assert.equal(backend.requests.length, 1)
    })
})
