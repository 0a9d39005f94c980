import {impersonationUrl} from "../lib/format"
import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/**
 * Asks for a short-lived, single-use impersonation link. The actor's email is who the auth
 * server checks as the impersonating admin. Succeeds only with an http(s) link in `data.url`.
 */
export default async function impersonate(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome<{url: string}>> {
    const outcome = await runAction({action: "impersonate", target: userTarget(input.recordId)}, input.actorEmail)
    if (!outcome.ok) return outcome
    const url = impersonationUrl(outcome.data)
    if (url === null) {
        return {ok: false, code: "NO_LINK", message: "The backend did not send an impersonation link. Check that app-backend is up to date."}
    }
    return {ok: true, message: outcome.message, data: {url}}
}
