import {confirm, Extensions} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {companyName} from "../../../client/records"
import {showOutcomeToast} from "../../../client/toast"
import createOrganization from "../../../server/create-organization.server"

export default Extensions.defineExtension({
    type: "record-action",
    id: "create-auth-workspace",
    label: "Create auth workspace",
    icon: "CompanyPlus",
    objects: "companies",
    onTrigger: async ({recordId}) => {
        const name = await companyName(recordId)
        const ok = await confirm({
            title: "Create a workspace in the auth server?",
            text: name ? `A workspace (organization) named "${name}" is created.` : "A workspace (organization) is created for this company.",
            confirmLabel: "Create workspace",
        })
        if (!ok) return
        await showOutcomeToast("create-organization", await createOrganization({recordId, actorEmail: await currentActorEmail(), name}))
    },
})
