import {Extensions} from "attio/client"

import AuthStatus from "./auth-status"

export default Extensions.defineExtension({
    type: "record-widget",
    id: "auth-status-widget",
    label: "Auth status",
    objects: "users",
    // The widget may suspend while it loads (Attio shows its own loading state); its root
    // element is a Widget component, as the SDK requires.
    Widget: ({recordId}) => <AuthStatus recordId={recordId} />,
})
