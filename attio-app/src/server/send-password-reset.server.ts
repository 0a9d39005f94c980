import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/** Sends the user a password reset email through the auth server's mailer. */
export default async function sendPasswordReset(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "send-password-reset", target: userTarget(input.recordId)}, input.actorEmail)
}
