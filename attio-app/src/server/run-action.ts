/**
 * The one place server code touches the Attio server SDK: it reads the workspace connection
 * (the connection string), the backend URL setting and the current Attio user, then makes
 * one signed call with src/lib/backend.ts. Imported only by `*.server.ts` / `*.event.ts`.
 */
import {type Connection, getCurrentUser, getWorkspaceConnection, Settings} from "attio/server"

import settingsSchema from "../app/settings/schema"
import {callBackend} from "../lib/backend"
import {authServerUrl, decodeConnectionString} from "../lib/connection"
import {NOT_CONNECTED_MESSAGE} from "../lib/messages"
import type {ActionOutcome, ActionRequest} from "../lib/protocol"

/** An action without its actor, which this module fills in. */
export type ActionInput = Omit<ActionRequest, "actor">

/**
 * Runs one action as the current Attio user. `connection` is passed by lifecycle events,
 * where the connection is not saved yet; elsewhere the workspace connection is read, and
 * when there is none yet the outcome is `NOT_CONNECTED` with a sentence saying where to
 * connect (widgets show it as their disconnected state).
 */
export async function runAction<T = unknown>(
    input: ActionInput,
    actorEmail: string | null | undefined,
    connection?: Connection
): Promise<ActionOutcome<T>> {
    let conn: Connection
    try {
        conn = connection ?? getWorkspaceConnection()
    } catch {
        return {ok: false, code: "NOT_CONNECTED", message: NOT_CONNECTED_MESSAGE}
    }
    const backendUrlSetting = await Settings.getSettings(settingsSchema, "backendUrl")
    let user: {id: string} | null = null
    try {
        user = getCurrentUser()
    } catch {
        // Lifecycle events may run without a current user; the connection's creator acts.
    }
    return callBackend<T>(
        {
            backendUrlSetting,
            workspaceId: conn.ownedBy.id,
            connectionString: conn.value,
        },
        {
            ...input,
            actor: {
                email: typeof actorEmail === "string" && actorEmail.trim() !== "" ? actorEmail.trim() : null,
                workspaceMemberId: user?.id ?? conn.createdBy.id,
            },
        }
    )
}

/** A `users` record target. */
export function userTarget(recordId: string) {
    return {object: "users", recordId}
}

/** The auth server's URL from the workspace's connection string (for links to it). */
export function authServerBaseUrl(): string | undefined {
    try {
        return authServerUrl(decodeConnectionString(getWorkspaceConnection().value))
    } catch {
        return undefined
    }
}
