import {Extensions} from "attio/client"

import SessionsWidget from "./sessions-widget"

export default Extensions.defineExtension({
    type: "record-widget",
    id: "user-sessions-widget",
    label: "Sessions",
    objects: "users",
    // Shows Widget.Loading while the sessions load; clicking it opens the sessions dialog.
    Widget: ({recordId}) => <SessionsWidget recordId={recordId} />,
})
