import {impersonationUrl} from "../lib/format"
import type {ActionOutcome} from "../lib/protocol"
import {authServerBaseUrl, runAction, userTarget} from "./run-action"

/**
 * Asks for a short-lived, single-use impersonation link. The actor's email is who the auth
 * server checks as the impersonating admin. Succeeds only with an http(s) link (the answer's
 * `url`, or one built from its one-time `sessionToken`).
 */
export default async function impersonate(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome<{url: string}>> {
    const outcome = await runAction({action: "impersonate", target: userTarget(input.recordId)}, input.actorEmail)
    if (!outcome.ok) return outcome
    const url = impersonationUrl(outcome.data, authServerBaseUrl())
    if (url === null) {
        return {ok: false, code: "NO_LINK", message: "The backend did not send an impersonation link. Check that app-backend is up to date."}
    }
    return {ok: true, message: outcome.message, data: {url}}
}
