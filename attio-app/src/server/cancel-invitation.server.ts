import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Cancels one pending invitation of the organization behind a `workspaces` record. */
export default async function cancelInvitation(input: {
    recordId: string
    actorEmail: string | null
    invitationId: string
}): Promise<ActionOutcome> {
    return runAction(
        {
            action: "cancel-org-invitation",
            target: {object: "workspaces", recordId: input.recordId},
            params: {invitationId: input.invitationId},
        },
        input.actorEmail
    )
}
