import {userDisplayName} from "../lib/format"
import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Creates the auth user for a `people` record, with the email the person picked. */
export default async function createUser(input: {
    recordId: string
    actorEmail: string | null
    email: string
    name: string | null
}): Promise<ActionOutcome> {
    return runAction(
        {
            action: "create-user",
            target: {object: "people", recordId: input.recordId},
            params: {email: input.email.trim(), name: userDisplayName(input.name, input.email)},
        },
        input.actorEmail
    )
}
