import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Creates the auth organization ("workspace") for a `companies` record. */
export default async function createOrganization(input: {
    recordId: string
    actorEmail: string | null
    name: string | null
}): Promise<ActionOutcome> {
    const name = (input.name ?? "").trim()
    return runAction(
        {
            action: "create-organization",
            target: {object: "companies", recordId: input.recordId},
            params: {name: name === "" ? null : name},
        },
        input.actorEmail
    )
}
