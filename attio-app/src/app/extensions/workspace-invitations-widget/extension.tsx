import {Extensions} from "attio/client"

import InvitationsWidget from "./invitations-widget"

export default Extensions.defineExtension({
    type: "record-widget",
    id: "workspace-invitations-widget",
    label: "Pending invitations",
    objects: "workspaces",
    // Shows Widget.Loading while the invitations load; clicking it opens the invite dialog.
    Widget: ({recordId}) => <InvitationsWidget recordId={recordId} />,
})
