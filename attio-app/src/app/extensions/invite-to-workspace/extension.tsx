import {Extensions, showDialog} from "attio/client"

import InviteDialog from "./invite-dialog"

export default Extensions.defineExtension({
    type: "record-action",
    id: "invite-to-workspace",
    label: "Invite user",
    icon: "UserPlus",
    objects: "workspaces",
    onTrigger: async ({recordId}) => {
        await showDialog({title: "Invite user", Dialog: () => <InviteDialog recordId={recordId} />})
    },
})
