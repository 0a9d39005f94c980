import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Invites an email to the organization behind a `workspaces` record, with a role. */
export default async function createInvitation(input: {
    recordId: string
    actorEmail: string | null
    email: string
    role: string
}): Promise<ActionOutcome> {
    return runAction(
        {
            action: "create-org-invitation",
            target: {object: "workspaces", recordId: input.recordId},
            params: {email: input.email.trim(), role: input.role},
        },
        input.actorEmail
    )
}
