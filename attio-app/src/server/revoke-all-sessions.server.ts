import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/**
 * Ends every session of one or more users in one call (the record action passes one id,
 * the bulk action one batch). The answer's `results` say how each record went.
 */
export default async function revokeAllSessions(input: {recordIds: Array<string>; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "revoke-all-sessions", targets: input.recordIds.map(userTarget)}, input.actorEmail)
}
