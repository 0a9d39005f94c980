/** Shows the toast for an action's outcome (wording lives in src/lib/messages.ts). */
import {showToast} from "attio/client"

import {toastFor} from "../lib/messages"
import type {ActionOutcome} from "../lib/protocol"

export async function showOutcomeToast(action: string, outcome: ActionOutcome<unknown>): Promise<void> {
    await showToast({...toastFor(action, outcome), durationMs: outcome.ok ? 4_000 : 8_000})
}
