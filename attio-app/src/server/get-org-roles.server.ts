import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** The organization roles the auth server knows (the invite dialog's role picker). */
export default async function getOrgRoles(input: {actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "get-org-roles"}, input.actorEmail)
}
