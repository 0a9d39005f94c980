import type {ActionOutcome} from "../lib/protocol"
import {runAction} from "./run-action"

/** Auth users whose email or name matches `search` (the invite dialog's picker). */
export default async function searchUsers(input: {search: string; actorEmail: string | null}): Promise<ActionOutcome> {
    return runAction({action: "search-users", params: {search: input.search.trim()}}, input.actorEmail)
}
