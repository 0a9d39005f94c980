import {Extensions} from "attio/client"

import AuthStatus from "./auth-status"

export default Extensions.defineExtension({
    type: "record-widget",
    id: "auth-status-widget",
    label: "Auth status",
    objects: "users",
    // Shows Widget.Loading while the details load, then a Widget component.
    Widget: ({recordId}) => <AuthStatus recordId={recordId} />,
})
