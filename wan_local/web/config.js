// Where the API lives. Edit this file when you host these files yourself, or pass the same settings
// in the page's URL (`?api=…` or `?modal=…`), which the page then remembers in this browser.
export default {
  // One base URL that serves every path (`wan-api dev`, or a proxy in front of the functions).
  // Empty: the origin this page was loaded from.
  api: "",
  // A Modal deployment: "https://<workspace>--wan-video-api". Each function has its own URL there:
  // <modal>-text-to-video.modal.run/, -image-to-video, -generation-status, and -account/<path>.
  modal: "",
  // Per-path overrides, e.g. {"/status": "https://…modal.run/"} (a label Modal had to shorten).
  endpoints: {},
};
