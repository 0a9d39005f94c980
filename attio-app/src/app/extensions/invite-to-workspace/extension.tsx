import {Extensions} from "attio/client"

import {showInviteDialog} from "./invite-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "invite-to-workspace",
    label: "Invite user",
    icon: "UserPlus",
    objects: "workspaces",
    onTrigger: async ({recordId}) => {
        await showInviteDialog(recordId)
    },
})
