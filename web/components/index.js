// The CJaaS web components, served at /v1/components.js. Load it once in any page:
//   <script src="https://cjaas.example.com/v1/components.js"></script>
export { CjaasJourney } from "./journey.js";
export { CjaasProfile } from "./profile.js";
export { CjaasFlow } from "./flow.js";
export { CjaasFunnel } from "./funnel.js";
export { CjaasRuleEditor } from "./rule-editor.js";
export { CjaasViewEditor } from "./view-editor.js";
