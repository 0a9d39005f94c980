import {confirm, Extensions} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import revokeAllSessions from "../../../server/revoke-all-sessions.server"

export default Extensions.defineExtension({
    type: "record-action",
    id: "revoke-all-sessions",
    label: "Sign out everywhere",
    icon: "LogOut",
    objects: "users",
    onTrigger: async ({recordId}) => {
        const ok = await confirm({
            title: "End all of this user's sessions?",
            text: "They are signed out on every device.",
            confirmLabel: "Sign out everywhere",
            confirmVariant: "destructive",
        })
        if (!ok) return
        const outcome = await revokeAllSessions({recordIds: [recordId], actorEmail: await currentActorEmail()})
        const failed = outcome.ok ? outcome.results?.find((r) => !r.ok) : undefined
        await showOutcomeToast(
            "revoke-all-sessions",
            failed ? {ok: false, code: "RECORD_FAILED", message: failed.message} : outcome
        )
    },
})
