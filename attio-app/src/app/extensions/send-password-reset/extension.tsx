import {confirm, Extensions} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import sendPasswordReset from "../../../server/send-password-reset.server"

export default Extensions.defineExtension({
    type: "record-action",
    id: "send-password-reset",
    label: "Send password reset",
    icon: "Key",
    objects: "users",
    onTrigger: async ({recordId}) => {
        const ok = await confirm({
            title: "Send a password reset email?",
            text: "The user gets an email with a link to choose a new password.",
            confirmLabel: "Send",
        })
        if (!ok) return
        await showOutcomeToast("send-password-reset", await sendPasswordReset({recordId, actorEmail: await currentActorEmail()}))
    },
})
