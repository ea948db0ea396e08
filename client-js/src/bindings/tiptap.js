// @ts-check
import { Extension } from '@tiptap/core';
import { keymap } from '@tiptap/pm/keymap';
import { prosemirrorBinding } from './prosemirror.js';

/**
 * Tiptap extensions (@tiptap/core is a peer dependency), the equivalents of Tiptap's Collaboration
 * and CollaborationCaret for a tandem provider:
 *
 *   new Editor({
 *     extensions: [
 *       StarterKit.configure({ undoRedo: false, trailingNode: false }),
 *       TandemCollaboration.configure({ provider }),
 *       TandemCursor.configure({ provider, user: { name: 'Ada', color: '#4363d8' } }),
 *     ],
 *   });
 *
 * TandemCollaboration binds the editor to the provider's document through the ProseMirror binding
 * (prosemirror.js): content, remote changes, the other editors' cursors, and undo and redo of this
 * user's own changes (the `undo` and `redo` commands, Mod-z, Mod-y, Mod-Shift-z). Leave Tiptap's
 * own undo out (StarterKit's `undoRedo: false`): it would undo other people's edits too. Leave
 * StarterKit's trailing node out as well (`trailingNode: false`): every editor would append its own
 * empty paragraph to the shared document, and text typed meanwhile can land in another's.
 * TandemCursor publishes this user's name and colour with the cursor.
 */

/**
 * @typedef {object} TandemCollaborationOptions
 * @property {import('./prosemirror.js').ProviderLike | null} provider
 * @property {string} root                      the Text root (default 'body')
 */

/**
 * @typedef {object} TandemCollaborationStorage
 * @property {ReturnType<typeof prosemirrorBinding> | null} binding
 */

/** TandemCollaboration keeps the editor's document in the provider's Text root. */
export const TandemCollaboration = Extension.create(
  /** @type {import('@tiptap/core').ExtensionConfig<TandemCollaborationOptions, TandemCollaborationStorage>} */ ({
    name: 'tandemCollaboration',
    priority: 1000,
    addOptions() {
      return { provider: null, root: 'body' };
    },
    addStorage() {
      return { binding: null };
    },
    addCommands() {
      return /** @type {any} */ ({
        undo:
          () =>
          (/** @type {{ state: any, dispatch: any }} */ { state, dispatch }) =>
            this.storage.binding?.undo(state, dispatch) ?? false,
        redo:
          () =>
          (/** @type {{ state: any, dispatch: any }} */ { state, dispatch }) =>
            this.storage.binding?.redo(state, dispatch) ?? false,
      });
    },
    addProseMirrorPlugins() {
      const provider = this.options.provider;
      if (!provider) throw new Error('tandem: TandemCollaboration needs a provider');
      const binding = prosemirrorBinding(provider, { root: this.options.root });
      this.storage.binding = binding;
      return [binding.plugin, keymap(binding.keymap)];
    },
  }),
);

/**
 * @typedef {object} TandemCursorOptions
 * @property {import('./prosemirror.js').ProviderLike | null} provider
 * @property {{ name: string, color?: string }} user
 */

/** TandemCursor shows this user's name and colour on the other editors' screens. */
export const TandemCursor = Extension.create(
  /** @type {import('@tiptap/core').ExtensionConfig<TandemCursorOptions>} */ ({
    name: 'tandemCursor',
    addOptions() {
      return { provider: null, user: { name: '' } };
    },
    onCreate() {
      this.options.provider?.awareness?.setLocalStateField('user', this.options.user);
    },
    addCommands() {
      return /** @type {any} */ ({
        updateUser: (/** @type {{ name: string, color?: string }} */ user) => () => {
          this.options.user = user;
          this.options.provider?.awareness?.setLocalStateField('user', user);
          return true;
        },
      });
    },
  }),
);
