import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Invitations of the organization behind a `workspaces` record (format with `pendingInvitations`). */
export default async function listInvitations(input: {recordId: string; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "list-org-invitations", target: {object: "workspaces", recordId: input.recordId}}, input.actorEmail)
}
