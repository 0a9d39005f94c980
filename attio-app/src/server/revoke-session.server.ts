import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/** Ends one session, by id (the signed protocol never shows session tokens). */
export default async function revokeSession(input: {
    recordId: string
    actorEmail: string | null
    sessionId: string
}): Promise<ActionOutcome> {
    return runAction(
        {action: "revoke-session", target: userTarget(input.recordId), params: {sessionId: input.sessionId}},
        input.actorEmail
    )
}
