import {confirm, Extensions} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import impersonate from "../../../server/impersonate.server"

export default Extensions.defineExtension({
    type: "record-action",
    id: "impersonate-user",
    label: "Impersonate user",
    icon: "UserArrowRight",
    objects: "users",
    onTrigger: async ({recordId}) => {
        const ok = await confirm({
            title: "Sign in as this user?",
            text: "A single-use link opens the app as this user. It is logged with your email.",
            confirmLabel: "Open as user",
        })
        if (!ok) return
        const outcome = await impersonate({recordId, actorEmail: await currentActorEmail()})
        if (outcome.ok) window.open(outcome.data.url, "_blank")
        await showOutcomeToast("impersonate", outcome)
    },
})
