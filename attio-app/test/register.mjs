import {register} from "node:module"

register("./resolve-attio.mjs", import.meta.url)
