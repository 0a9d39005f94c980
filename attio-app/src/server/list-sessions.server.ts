import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/** The user's sessions, newest first (format with `sessionRows`). */
export default async function listSessions(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "sessions", target: userTarget(input.recordId)}, input.actorEmail)
}
