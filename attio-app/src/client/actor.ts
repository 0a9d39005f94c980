/**
 * The current Attio user's email, for the backend's audit log (and, for impersonation, the
 * admin the auth server checks). Read with Attio's GraphQL `currentUser` on the client,
 * because the server SDK's getCurrentUser() gives only an id.
 */
import {runQuery} from "attio/client"

const CURRENT_USER = "query currentUserEmail { currentUser { email } }"

export async function currentActorEmail(): Promise<string | null> {
    try {
        const result = await runQuery<Record<string, never>, {currentUser?: {email?: string | null} | null}>(CURRENT_USER)
        return result.currentUser?.email ?? null
    } catch (error) {
        console.error(`[attio-auth] could not read the current user: ${error instanceof Error ? error.name : "unknown"}`)
        return null
    }
}
