/**
 * The demo app: Images, Faces and Text pages on top of the published runtime
 * (`/lib/browserml.js`), exactly as an integrator would use it.
 *
 * Each page shows where its models run and why, the variant and its size, the
 * download progress, load time and latency; the "Run on" control forces a
 * backend. Results are also written as JSON into `data-result` attributes so
 * the browser tests can compare them with the server's.
 *
 * This entry routes between the pages (one module each under pages/) and
 * does the setup they share: the backend choice, the offline notice, the
 * service worker (`?sw=off` skips it).
 */

import "./style.css";

import { $ } from "./dom.js";
import { explain, showError } from "./errors.js";
import { model, wireBackendChoice } from "./models.js";
import * as faces from "./pages/faces.js";
import * as images from "./pages/images.js";
import * as text from "./pages/text.js";

/** What the router needs of a page module. */
interface PageModule {
  /** The models the page runs. */
  readonly MODELS: readonly string[];
  /** Attach the page's listeners (once, at start). */
  wire(): void;
  /** Called each time the page is shown, after its models start loading. */
  shown?(): void;
}

const PAGES = ["images", "faces", "text"] as const;
type Page = (typeof PAGES)[number];
const MODULES: Record<Page, PageModule> = { images, faces, text };

function show(page: Page): void {
  for (const name of PAGES) $(`#page-${name}`).hidden = name !== page;
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  // Start loading the page's models right away: the download overlaps with the user choosing a file.
  for (const name of MODULES[page].MODELS) model(name).catch((err: unknown) => showError(explain(err)));
  MODULES[page].shown?.();
}

function route(): void {
  const page = location.hash.replace(/^#\//, "") as Page;
  show(PAGES.includes(page) ? page : "images");
}

function init(): void {
  const params = new URLSearchParams(location.search);
  wireBackendChoice(params.get("backend"), route);
  for (const name of PAGES) MODULES[name].wire();
  window.addEventListener("hashchange", route);
  window.addEventListener("offline", () => showError("You are offline: models already cached keep working."));
  route();
  if ("serviceWorker" in navigator && params.get("sw") !== "off") {
    navigator.serviceWorker.register("/sw.js").catch((err: unknown) => console.warn("service worker:", err));
  }
}

init();
