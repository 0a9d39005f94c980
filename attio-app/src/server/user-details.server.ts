import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/** Ban state and role of the auth user behind a `users` record (for the widget). */
export default async function getUserDetails(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "user-details", target: userTarget(input.recordId)}, input.actorEmail)
}
